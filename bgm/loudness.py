"""Loudness: every song brought to one level (gated like EBU R128, so silences and fades do not
count), its peaks held under a ceiling by a limiter that touches only the stretches around them."""

from __future__ import annotations

import numpy as np

TARGET_DBFS = -16.0  # loudness every mood is brought to, so a calm song is not half as loud as an epic one
PEAK_DBFS = -1.0  # headroom for the encoder's overshoot
LEVEL_TOLERANCE_DB = 0.2  # closer than this to the target is left alone (a pass costs a second on a song)
LOUDNESS_BLOCK_S = 0.4  # EBU R128's block


def _powers(audio: np.ndarray, block: int) -> np.ndarray:
    """Mean power of each whole ``block`` of frames (float64), both channels together."""
    count = len(audio) // block
    # A block's frames as one row: einsum sums each row's squares without a copy of the song, ten
    # times faster than per frame (numpy's inner loop would run over two channels).
    rows = audio[: count * block].reshape(count, block * audio.shape[1])
    return np.einsum("ij,ij->i", rows, rows).astype(np.float64) / rows.shape[1]


def _gated(power: np.ndarray) -> float:
    """The level of 400 ms block powers, gated like EBU R128 so silences and fades do not count."""
    power = power[power > 10 ** (-70 / 10)]  # absolute gate
    if power.size == 0:
        return -np.inf
    power = power[power > power.mean() * 10 ** (-10 / 10)]  # relative gate
    return float(10 * np.log10(power.mean()))


def loudness_dbfs(audio: np.ndarray, rate: int) -> float:
    """RMS level in dBFS over 400 ms blocks, gated like EBU R128 so silences and fades do not count."""
    return _gated(_powers(audio, max(1, int(LOUDNESS_BLOCK_S * rate))))


def _peaks(audio: np.ndarray, block: int) -> np.ndarray:
    """The largest magnitude in each ``block`` of frames (the last block may be short)."""
    whole = len(audio) // block * block
    view = audio[:whole].reshape(-1, block * audio.shape[1])
    peaks = np.maximum(view.max(axis=1, initial=0.0), -view.min(axis=1, initial=0.0))
    if whole < len(audio):
        peaks = np.append(peaks, np.abs(audio[whole:]).max())
    return peaks


def _limit_in_place(audio: np.ndarray, rate: int, ceiling: float) -> list[tuple[int, int]]:
    """Peaks held under ``ceiling`` by a gain that dips 10 ms before a peak and holds 100 ms after it;
    only the stretches around peaks are touched. Returns them as frame ranges."""
    block = max(1, rate // 200)  # 5 ms
    peaks = _peaks(audio, block)
    if peaks.max() <= ceiling:
        return []  # nothing to limit
    count = len(peaks)
    gains = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    # Each dip reaches 2 blocks back and 20 forward; neighbours share it, so interpolation cannot overshoot.
    smoothed = gains.copy()
    for shift in range(1, 21):
        smoothed[shift:] = np.minimum(smoothed[shift:], gains[:-shift])
    for shift in range(1, 3):
        smoothed[:-shift] = np.minimum(smoothed[:-shift], gains[shift:])
    # The envelope between two block centres ramps from one's gain to the other's: a block next to a
    # dipped one is touched too. Elsewhere it is 1 and the samples are under the ceiling already.
    dipped = smoothed < 1.0
    touched = dipped.copy()
    touched[1:] |= dipped[:-1]
    touched[:-1] |= dipped[1:]
    edges = np.flatnonzero(np.diff(np.concatenate([[False], touched, [False]]).astype(np.int8)))
    centres = np.arange(count) * block + block / 2
    ranges = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        lo, hi = first * block, min(len(audio), stop * block)
        envelope = np.interp(np.arange(lo, hi), centres, smoothed).astype(audio.dtype)
        stretch = audio[lo:hi]
        stretch *= envelope[:, None]
        np.clip(stretch, -ceiling, ceiling, out=stretch)
        ranges.append((lo, hi))
    return ranges


def limit(audio: np.ndarray, rate: int, ceiling_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Peaks held under the ceiling by a gain that dips 10 ms before a peak and holds 100 ms after it."""
    limited = audio.copy()
    _limit_in_place(limited, rate, 10 ** (ceiling_dbfs / 20))
    return limited


def level_in_place(audio: np.ndarray, rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``audio`` brought to ``target_dbfs`` with its peaks limited, in place; a second pass makes up
    what the limiter took. Passes that would change nothing audible are skipped, and the loudness of
    400 ms blocks is measured again only where the limiter worked."""
    ceiling = 10 ** (PEAK_DBFS / 20)
    block = max(1, int(LOUDNESS_BLOCK_S * rate))
    powers = _powers(audio, block)
    peak = float(max(audio.max(initial=0.0), -audio.min(initial=0.0)))
    for _ in range(2):
        level = _gated(powers)
        if not np.isfinite(level):
            return audio
        if abs(level - target_dbfs) < LEVEL_TOLERANCE_DB and peak <= ceiling:
            return audio  # already there: the pass would change nothing audible
        gain = 10 ** ((target_dbfs - level) / 20)
        audio *= np.float32(gain)
        powers *= gain**2
        peak = min(peak * gain, ceiling)
        for lo, hi in _limit_in_place(audio, rate, ceiling):
            first, stop = lo // block, min(len(powers), -(-hi // block))
            powers[first:stop] = _powers(audio[first * block : stop * block], block)
    return audio


def normalize(audio: np.ndarray, rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """A copy of ``audio`` at ``target_dbfs``, peaks limited (see ``level_in_place``)."""
    return level_in_place(audio.astype(np.float32, copy=True), rate, target_dbfs)
