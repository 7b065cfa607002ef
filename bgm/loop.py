"""A song as a seamless loop: exactly its whole bars long, its reverb tail folded into its start.

Played end to start, a loop must sound as the song played twice in a row: the last notes' releases
and reverb ring on over the first bar. Synthesis is linear, so the tail rendered after the last bar
is added onto the start (``fold_tail``). Whatever then works on the audio over time (the DC filter,
the limiter) must see the loop as a circle, or it treats the two ends differently and leaves a step
at the seam: ``around`` runs it on the loop with each end extended by the other.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

AROUND_S = 1.0  # context each end gets in ``around``: more than the DC filter's and the limiter's reach


def fold_tail(audio: np.ndarray, frames: int) -> np.ndarray:
    """The first ``frames`` of ``audio`` with everything after them added in from the start (a copy)."""
    loop = np.array(audio[:frames], dtype=np.float32)
    loop.resize((frames, audio.shape[1]), refcheck=False)  # a render shorter than the song: silence
    for start in range(frames, len(audio), frames):
        chunk = audio[start : start + frames]
        loop[: len(chunk)] += chunk
    return loop


def around(audio: np.ndarray, rate: int, work: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``work`` done on ``audio`` as a circle: on a copy with each end extended by the other, then cut
    back (``work`` may change its argument in place; the result has ``audio``'s length)."""
    pad = min(len(audio), round(AROUND_S * rate))
    extended = np.concatenate([audio[len(audio) - pad :], audio, audio[:pad]])
    return work(extended)[pad : pad + len(audio)]


def seam_step(audio: np.ndarray, rate: int, window_s: float = 0.01) -> tuple[float, float]:
    """(the jump between the last and the first sample, the largest jump between neighbouring samples
    within ``window_s`` of either end): a click-free seam has the first no larger than the second."""
    near = max(1, round(window_s * rate))
    seam = float(np.abs(audio[0] - audio[-1]).max())
    ends = np.concatenate([audio[-near:], audio[:near]])  # the loop around its seam, seam excluded below
    steps = np.abs(np.diff(ends, axis=0))
    steps[near - 1] = 0.0  # the seam itself
    return seam, float(steps.max())
