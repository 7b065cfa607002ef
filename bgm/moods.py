"""The moods, and the one rule that labels a piece with a mood.

A mood is read from musical features: the mode of the estimated key, how
many steps start a note (density), how many pitches sound per onset
(texture), and the meter. The rule, in order:

1. minor and dense             -> tense   (driving minor reels, agitated lines)
2. minor                       -> sad
3. chordal (>= 2.5 pitches)    -> epic    (hymn-like, full harmony)
4. dense or compound meter     -> playful (jigs, skipping rhythms)
5. sparse                      -> calm    (long notes, slow airs)
6. otherwise                   -> happy

The thresholds split the default corpus so that every mood gets a useful
share of it; the same rule classifies generated songs in bench/quality.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgm.harmony import estimate_key
from bgm.tokens import Onset

MOODS = ("calm", "happy", "sad", "epic", "tense", "playful")

DENSE = 0.42  # onsets per step at or above which a piece is "dense" (top ~third of the corpus)
SPARSE = 0.30  # onsets per step below which a piece is "sparse" (bottom ~quarter)
CHORDAL = 2.5  # mean pitches per onset at or above which a piece is "chordal"


@dataclass(frozen=True)
class Features:
    mode: str
    density: float
    texture: float
    compound: bool

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "density": self.density,
            "texture": self.texture,
            "compound": self.compound,
        }


def is_compound(meter: str) -> bool:
    """6/8, 9/8, 12/8 and the like: beats divided in three."""
    try:
        numerator, denominator = (int(x) for x in meter.split("/"))
    except ValueError:
        return False
    return denominator >= 8 and numerator % 3 == 0 and numerator > 3


def features(onsets: list[Onset], length: int, meter: str = "") -> Features:
    density = len(onsets) / max(length, 1)
    texture = sum(len(o.pitches) for o in onsets) / max(len(onsets), 1)
    return Features(estimate_key(onsets).mode, density, texture, is_compound(meter))


def mood_of(f: Features) -> str:
    """The mood that ``f`` describes, by the rule in this module's docstring."""
    dense = f.density >= DENSE
    if f.mode == "minor":
        return "tense" if dense else "sad"
    if f.texture >= CHORDAL:
        return "epic"
    if dense or f.compound:
        return "playful"
    if f.density < SPARSE:
        return "calm"
    return "happy"
