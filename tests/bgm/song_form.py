"""A song in the form (verse 1, chorus, verse 2, chorus, bridge, chorus) for rendering tests: four
distinct medium-length parts, the chorus the same tokens each time, as the composer lays them out."""

from __future__ import annotations

from bgm.arrangement import Arrangement, arrange
from bgm.form import BAR_STEPS, Section, layout, part_bars, song_onsets

PART_STEPS = part_bars("medium") * BAR_STEPS
PITCHES = {  # a phrase per part, repeated to fill it: quarter notes
    "verse1": (60, 62, 64, 65, 67, 65, 64, 62),
    "chorus": (72, 67, 64, 67, 72, 76, 74, 71),
    "verse2": (64, 65, 67, 69, 71, 69, 67, 65),
    "bridge": (57, 60, 64, 60, 59, 62, 65, 62),
}


def part(pitches: tuple[int, ...], steps: int = PART_STEPS) -> list[str]:
    tokens: list[str] = []
    while len(tokens) < steps:
        for pitch in pitches:
            tokens += [f"{pitch}:4", "_", "_", "_"]
    return tokens[:steps]


def song(mood: str, steps: int = PART_STEPS, tempo: int | None = None) -> tuple[Arrangement, list[Section]]:
    tokens, sections = layout({name: part(p, steps) for name, p in PITCHES.items()})
    return arrange(song_onsets(tokens, sections), len(tokens), mood, sections, tempo), sections
