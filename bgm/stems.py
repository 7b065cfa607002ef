"""Stems: one audio file per part of the arrangement (melody, harmony, bass, drums), and the mix as
their sum.

Each part is synthesised alone. Two renders of one note differ in the phase of FluidSynth's chorus
(bgm.segments), so a mix rendered apart would not be the sum of its stems: the mix here is the sum.
Everything up to levelling is linear (``audio.shaped``); the mix is then levelled and each stem is
given the mix's gain frame by frame, the limiter's dips included, so the stems add up to the mix
within the encoder's error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bgm import audio, segments
from bgm.arrangement import Arrangement
from bgm.form import Section


def render_stems(
    arrangement: Arrangement,
    sections: list[Section],
    mix_path: Path,
    fmt: str = "ogg",
    soundfont: str | Path | None = None,
    max_bytes: int = audio.MAX_BYTES,
    loop: bool = False,
) -> tuple[Path, dict[str, Path]]:
    """The mix at ``mix_path`` (within ``max_bytes``, as ``audio.render``) and each part beside it
    as ``<mix stem>-<part>.<fmt>`` (at the mix's sample rate and channels, whatever their size)."""
    font = audio.ready_to_render(fmt, soundfont)
    plan = segments.plan(arrangement, sections)
    rate, seconds = audio.RATE, arrangement.seconds
    parts = {}
    for index, track in enumerate(arrangement.tracks):
        if track.notes:
            raw = audio.synthesize(arrangement, plan, font, rate, only=(index,))
            parts[track.name] = raw
    length = max((len(a) for a in parts.values()), default=round(seconds * rate))
    shaped = {
        name: audio.shaped(np.pad(raw, ((0, length - len(raw)), (0, 0))), rate, seconds, loop)
        for name, raw in parts.items()
    }
    mix = sum(shaped.values(), audio.shaped(np.zeros((length, 2), np.float32), rate, seconds, loop))
    levelled = audio.levelled(mix.copy(), rate, loop)
    gains = _gains(mix, levelled)
    mix_path = audio.encode(levelled, rate, mix_path, fmt, max_bytes)
    paths = {}
    for name, part in shaped.items():
        path = mix_path.with_name(f"{mix_path.stem}-{name}{mix_path.suffix}")
        paths[name] = audio.encode(part * gains[:, None], rate, path, fmt, like=mix_path)
    return mix_path, paths


def _gains(mix: np.ndarray, levelled: np.ndarray) -> np.ndarray:
    """The gain levelling gave each frame of ``mix``: one scalar for the song, lower where the limiter
    held a peak down (it scales both channels of a frame alike, so one frame's ratio is exact)."""
    power = float(np.vdot(mix, mix))
    song = np.float32(float(np.vdot(levelled, mix)) / power if power > 0 else 1.0)
    frame_power = np.einsum("ij,ij->i", mix, mix)
    frame_cross = np.einsum("ij,ij->i", levelled, mix)
    gains = np.full(len(mix), song, dtype=np.float32)
    heard = frame_power > 1e-12  # in silence any gain fits: keep the song's
    gains[heard] = np.clip(frame_cross[heard] / frame_power[heard], 0.0, song)  # a limiter only lowers
    return gains
