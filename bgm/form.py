"""Song form: which parts are generated and how they are laid out.

As in the seed, four parts are generated (verse 1, chorus, verse 2
continuing verse 1, bridge) and laid out verse 1, chorus, verse 2, chorus,
bridge, chorus. A part is 8 bars of 4/4 at the default length; ``length``
scales it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgm.tokens import Onset, decode

PARTS = ("verse1", "chorus", "verse2", "bridge")
LAYOUT = ("verse1", "chorus", "verse2", "chorus", "bridge", "chorus")
CONTINUES = {"verse2": "verse1"}  # verse 2 is primed with the end of verse 1
BAR_STEPS = 16
BARS_PER_PART = {"short": 4, "medium": 8, "long": 12}
LENGTHS = tuple(BARS_PER_PART)


@dataclass(frozen=True)
class Section:
    name: str  # the part it plays, e.g. "chorus"
    start: int  # step where it starts in the song
    steps: int


def part_bars(length: str) -> int:
    if length not in BARS_PER_PART:
        raise ValueError(f"length must be one of {', '.join(LENGTHS)}, not {length!r}")
    return BARS_PER_PART[length]


def layout(parts: dict[str, list[str]]) -> tuple[list[str], list[Section]]:
    """The song's tokens in form order, and where each section starts; a part not written yet (a
    draft's verse 2) is left out, and what follows it moves up."""
    tokens: list[str] = []
    sections = []
    for name in (name for name in LAYOUT if name in parts):
        sections.append(Section(name, len(tokens), len(parts[name])))
        tokens += parts[name]
    return tokens, sections


def song_onsets(tokens: list[str], sections: list[Section]) -> list[Onset]:
    """Onsets of a laid-out song, none ringing past the end of its section."""
    onsets = []
    for section in sections:
        for o in decode(tokens[section.start : section.start + section.steps]):
            steps = min(o.steps, section.steps - o.step)
            onsets.append(Onset(section.start + o.step, o.pitches, steps))
    return onsets
