"""Keys: named as people write them, and estimated from onsets (Krumhansl–Kessler profiles), in numpy."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bgm.errors import BgmError
from bgm.tokens import Onset

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Tonics spelled as key signatures have them: D-flat major (5 flats, not C-sharp's 7 sharps), G-sharp minor.
TONIC_NAMES = {
    "major": PITCH_NAMES[:1] + ("Db",) + PITCH_NAMES[2:],
    "minor": PITCH_NAMES[:8] + ("G#",) + PITCH_NAMES[9:],
}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the raised 7th counts too, see in_scale
LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
# "D minor", "dm", "F# major", "F sharp", "Bb", "B♭ min", "E-flat minor": a letter, an accidental, a mode.
KEY_TEXT = re.compile(
    r"^\s*(?P<letter>[a-g])\s*(?P<accidental>#|♯|b|♭|-?\s*sharp|-?\s*flat)?"
    r"\s*(?P<mode>major|minor|maj|min|m)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"

    @property
    def name(self) -> str:
        return f"{TONIC_NAMES[self.mode][self.tonic]} {self.mode}"

    @classmethod
    def from_name(cls, name: str) -> Key:
        """The key named like ``name`` ("D minor", "Eb major"; any spelling ``parse`` reads)."""
        return cls.parse(name)

    @classmethod
    def parse(cls, text: str) -> Key:
        """The key ``text`` names, spelled as people write it ("D minor", "f#m", "Bb", "E-flat major");
        a letter alone is major. Raises ``BgmError`` (one sentence) for anything else."""
        match = KEY_TEXT.match(text or "")
        if match is None:
            shown = "".join(c for c in (text or "")[:40] if c.isprintable())
            raise BgmError(f'{shown!r} is not a key; write one like "D minor", "F# major" or "Bb".')
        accidental = (match["accidental"] or "").lower().replace("-", "").replace(" ", "")
        shift = {"": 0, "#": 1, "♯": 1, "sharp": 1, "b": -1, "♭": -1, "flat": -1}[accidental]
        mode = (match["mode"] or "major").lower()
        # "Dm" is minor, "DM" would read as major: only the lower-case m abbreviates minor.
        minor = mode in ("minor", "min") or match["mode"] == "m"
        return cls((LETTERS[match["letter"].lower()] + shift) % 12, "minor" if minor else "major")

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
