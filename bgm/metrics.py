"""Objective quality metrics of one token stream (a generated part, a song, a corpus chunk), in numpy.

Each metric reads a stream in the token grammar of ``bgm.tokens`` (one token per 16th-note step).
Notes are clipped at the end of the stream, so a chunk cut out of a longer piece is measured by
what sounds inside it. A metric that has nothing to measure (no notes, too few bars) is NaN, and
``summary`` leaves NaNs out of its means.

- ``pitch_class_entropy``: how evenly the music spreads over the 12 pitch classes, in bits
  (0 = one pitch class only, log2(12) ≈ 3.58 = all twelve equally), weighted by duration.
- ``scale_consistency``: the share of sounding note duration that lies in the best-fitting major or
  minor scale (the key ``bgm.harmony.estimate_key`` finds; minor admits its raised 7th).
- ``empty_beat_rate``: the share of quarter-note beats (4 steps) in which no note sounds.
- ``groove_consistency``: how alike the onset patterns of consecutive 16-step bars are: 1 minus the
  mean Hamming distance between them, divided by 16 (1 = every bar has the same rhythm).
- ``longest_loop``: the length in tokens of the longest stretch that is immediately repeated back to
  back (``tokens[i:i+L] == tokens[i+L:i+2L]``) and holds at least one onset; the stuck, looping
  output of argmax decoding shows up here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from bgm.harmony import estimate_key, pitch_class_histogram
from bgm.tokens import HOLD, Onset, decode

STEPS_PER_BEAT = 4
STEPS_PER_BAR = 16

METRICS = (
    "pitch_class_entropy",
    "scale_consistency",
    "empty_beat_rate",
    "groove_consistency",
    "longest_loop",
)


def sounding(tokens: Sequence[str]) -> list[Onset]:
    """The stream's onsets, each cut off at the end of the stream."""
    length = len(tokens)
    return [Onset(o.step, o.pitches, min(o.steps, length - o.step)) for o in decode(list(tokens))]


def pitch_class_entropy(tokens: Sequence[str]) -> float:
    """Shannon entropy (bits) of the duration-weighted pitch-class histogram; NaN without notes."""
    histogram = pitch_class_histogram(sounding(tokens))
    total = histogram.sum()
    if total <= 0:
        return math.nan
    p = histogram[histogram > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()))


def scale_consistency(tokens: Sequence[str]) -> float:
    """Share of note duration (each chord pitch counted) in the estimated key's scale; NaN without notes."""
    onsets = sounding(tokens)
    key = estimate_key(onsets)
    inside = total = 0
    for onset in onsets:
        for pitch in onset.pitches:
            total += onset.steps
            if key.in_scale(pitch):
                inside += onset.steps
    return inside / total if total else math.nan


def empty_beat_rate(tokens: Sequence[str], beat: int = STEPS_PER_BEAT) -> float:
    """Share of beats (``beat`` steps; a last partial beat counts) with no sounding note; NaN if empty."""
    length = len(tokens)
    if length == 0:
        return math.nan
    sounding_steps = np.zeros(length, dtype=bool)
    for onset in sounding(tokens):
        sounding_steps[onset.step : onset.end] = True
    beats = math.ceil(length / beat)
    padded = np.zeros(beats * beat, dtype=bool)
    padded[:length] = sounding_steps
    return float((~padded.reshape(beats, beat).any(axis=1)).mean())


def onset_grid(tokens: Sequence[str]) -> np.ndarray:
    """bool [steps]: where a note or chord starts."""
    return np.array([t != HOLD for t in tokens], dtype=bool)


def groove_consistency(tokens: Sequence[str], bar: int = STEPS_PER_BAR) -> float:
    """1 − mean normalised Hamming distance between the onset patterns of consecutive full bars.

    Wu & Yang's grooving-pattern similarity (the Jazz Transformer) taken over consecutive bars, as
    MusPy's ``groove_consistency`` does. Only whole bars count; NaN with fewer than two.
    """
    bars = len(tokens) // bar
    if bars < 2:
        return math.nan
    grid = onset_grid(tokens)[: bars * bar].reshape(bars, bar)
    distances = (grid[1:] != grid[:-1]).sum(axis=1) / bar
    return float(1.0 - distances.mean())


def longest_loop(tokens: Sequence[str]) -> int:
    """Largest L with ``tokens[i:i+L] == tokens[i+L:i+2L]`` for some i, the repeated stretch holding
    at least one onset; 0 when nothing repeats back to back.

    A stream of one note struck on every step has a loop of half its length, as does a phrase
    played twice in a row. Measure generated parts one by one: the song form repeats the chorus on
    purpose.
    """
    n = len(tokens)
    if n < 2:
        return 0
    index: dict[str, int] = {}
    ids = np.array([index.setdefault(t, len(index)) for t in tokens])
    onsets = np.concatenate([[0], np.cumsum(onset_grid(tokens))])  # onsets[j] = onsets in tokens[:j]
    best = 0
    for size in range(1, n // 2 + 1):
        same = np.concatenate([[0], np.cumsum(ids[:-size] == ids[size:])])  # over positions 0..n-size-1
        starts = np.arange(n - 2 * size + 1)
        repeated = same[starts + size] - same[starts] == size
        has_onset = onsets[starts + size] > onsets[starts]
        if np.any(repeated & has_onset):
            best = size
    return best


def measure(tokens: Sequence[str]) -> dict[str, float]:
    """Every metric of one stream, keyed as in ``METRICS``."""
    return {
        "pitch_class_entropy": pitch_class_entropy(tokens),
        "scale_consistency": scale_consistency(tokens),
        "empty_beat_rate": empty_beat_rate(tokens),
        "groove_consistency": groove_consistency(tokens),
        "longest_loop": float(longest_loop(tokens)),
    }


def summary(values: Iterable[float]) -> dict[str, float | int]:
    """Mean, (population) standard deviation, min and max of the values that are not NaN, and their count."""
    array = np.array([v for v in values if not math.isnan(v)], dtype=float)
    if array.size == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "count": 0}
    return {
        "mean": float(array.mean()),
        "std": float(array.std()),
        "min": float(array.min()),
        "max": float(array.max()),
        "count": int(array.size),
    }
