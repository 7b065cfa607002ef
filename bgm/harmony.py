"""Key estimation from onsets (Krumhansl–Kessler profiles), in numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bgm.tokens import Onset

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the raised 7th counts too, see in_scale


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"

    @property
    def name(self) -> str:
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    @classmethod
    def from_name(cls, name: str) -> Key:
        """The key named like ``name`` ("D minor", "Eb major")."""
        tonic, mode = name.split()
        return cls(PITCH_NAMES.index(tonic), mode)

    def in_scale(self, pitch: int) -> bool:
        degree = (pitch - self.tonic) % 12
        scale = MAJOR_SCALE if self.mode == "major" else MINOR_SCALE + (11,)
        return degree in scale


def pitch_class_histogram(onsets: list[Onset]) -> np.ndarray:
    """Duration-weighted pitch-class counts."""
    histogram = np.zeros(12)
    for onset in onsets:
        for pitch in onset.pitches:
            histogram[pitch % 12] += onset.steps
    return histogram


def estimate_key(onsets: list[Onset]) -> Key:
    """The key whose profile correlates best with the pitch-class histogram."""
    histogram = pitch_class_histogram(onsets)
    if not histogram.any():
        return Key(0, "major")
    best, best_score = Key(0, "major"), -np.inf
    for tonic in range(12):
        for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            score = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
            if score > best_score:
                best, best_score = Key(tonic, mode), score
    return best


# Scale degrees (semitones above the tonic) that differ between a major key and its parallel minor:
# the third and the sixth. The seventh stays raised, as the leading tone of harmonic minor.
_MAJOR_TO_MINOR = {4: 3, 9: 8}
_MINOR_TO_MAJOR = {v: k for k, v in _MAJOR_TO_MINOR.items()}


def with_mode(onsets: list[Onset], mode: str) -> list[Onset]:
    """``onsets`` moved to the parallel ``mode`` of their estimated key (C major <-> C minor), tonic kept."""
    key = estimate_key(onsets)
    if key.mode == mode:
        return list(onsets)
    shift = _MAJOR_TO_MINOR if mode == "minor" else _MINOR_TO_MAJOR

    def moved(pitch: int) -> int:
        degree = (pitch - key.tonic) % 12
        return min(127, pitch + shift.get(degree, degree) - degree)

    return [Onset(o.step, tuple(sorted({moved(p) for p in o.pitches})), o.steps) for o in onsets]
