"""The meters a song can be in: how many 16th steps make a bar, and how strong each step of it is.

Songs are in 4/4 unless a primer brings another meter. A time signature is written on the grid of
one of three meters: 2/4, 2/2 and 4/2 on 4/4's (whole bars of each fill its 16 steps), 3/4 and 6/8
on their own 12-step bars. 3/4 has three beats of a quarter; 6/8 two of a dotted quarter, each of
three eighths (a jig's lilt). Other signatures (3/8, 6/4, 5/4, 7/8, ...) have no grid here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Meter:
    name: str  # "4/4", "3/4" or "6/8"
    bar: int  # 16th steps in a bar
    # Extra loudness of a note struck on a step of the bar (the accompaniment's accents): the
    # downbeat strongest, then the other beats; steps not listed get none.
    accents: tuple[tuple[int, int], ...]

    @property
    def phrase(self) -> int:
        """Steps in a 4-bar phrase, the unit the tunes are planned and the position input counts in."""
        return 4 * self.bar

    @property
    def beat(self) -> int:
        """Steps in one beat: a quarter (4/4, 3/4) or a dotted quarter (6/8)."""
        return 6 if self.name == "6/8" else 4

    def accent(self, step: int) -> int:
        return dict(self.accents).get(step % self.bar, 0)


FOUR_FOUR = Meter("4/4", 16, ((0, 8), (8, 4), (4, 2), (12, 2)))
THREE_FOUR = Meter("3/4", 12, ((0, 8), (4, 2), (8, 2)))
SIX_EIGHT = Meter("6/8", 12, ((0, 8), (6, 4), (2, 1), (4, 1), (8, 1), (10, 1)))
METERS = (FOUR_FOUR, THREE_FOUR, SIX_EIGHT)  # in the order of their ranges of the position input
BY_NAME = {m.name: m for m in METERS}
# Time signatures written on another meter's grid.
ON_GRID_OF = {"": FOUR_FOUR, "2/4": FOUR_FOUR, "2/2": FOUR_FOUR, "4/2": FOUR_FOUR, **BY_NAME}


def meter_for(signature: str) -> Meter | None:
    """The meter whose grid ``signature`` is written on ("" is 4/4, as in MIDI without one), or
    ``None`` when bgm cannot write in it."""
    return ON_GRID_OF.get(signature.strip())


def signature_steps(signature: str) -> int:
    """Steps in one bar of ``signature`` itself (2/4: 8), one on the grid of ``meter_for``."""
    if not signature.strip():
        return FOUR_FOUR.bar
    numerator, denominator = (int(x) for x in signature.split("/"))
    return numerator * 16 // denominator


def by_name(name: str) -> Meter:
    if name not in BY_NAME:
        raise ValueError(f"meter must be one of {', '.join(BY_NAME)}, not {name!r}")
    return BY_NAME[name]
