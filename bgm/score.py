"""music21 scores to a melody line on the 16th-note grid (the tokenizer's front half).

A piece's melody is one line: the first part that has notes (the soprano
of a chorale, the tune of a folk song, the lead of a MIDI file), and within
it the highest note of each onset, each note cut off where the next begins.
Harmony is the arranger's job, so the model learns tunes, not chordified
scores. The piece keeps where its first note falls in the bar (pickups are
common) and how many notes sound per onset in the whole score, which the
mood rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from music21 import chord, note, stream

from bgm.melody import melody_line
from bgm.tokens import STEP_QUARTERS, Onset, encode

MIN_ONSETS = 8  # shorter pieces teach nothing and are skipped


@dataclass(frozen=True)
class Piece:
    """One tokenized piece, as cached and as labelled by mood."""

    source: str
    meter: str  # e.g. "6/8"; "" when the score has none
    tokens: tuple[str, ...]  # the melody, one token per step, starting at its first onset
    phase: int = 0  # steps from the bar line before the first onset to that onset
    texture: float = 1.0  # pitches per onset in the whole score (a chorale's four voices: ~3.5)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "meter": self.meter,
            "tokens": list(self.tokens),
            "phase": self.phase,
            "texture": self.texture,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Piece:
        return cls(
            str(data["source"]),
            str(data["meter"]),
            tuple(data["tokens"]),
            int(data.get("phase", 0)),
            float(data.get("texture", 1.0)),
        )


def scores_of(parsed: stream.Stream) -> list[stream.Score]:
    """The scores inside whatever music21 parsed (an Opus holds many)."""
    if isinstance(parsed, stream.Opus):
        return list(parsed.scores)
    if isinstance(parsed, stream.Score):
        return [parsed]
    score = stream.Score()
    score.insert(0, parsed)
    return [score]


def _notes(part: stream.Stream) -> list[tuple[float, tuple[int, ...], float]]:
    """(offset in quarters, MIDI pitches, length in quarters) of each pitched note or chord."""
    out = []
    for element in part.flatten().notes:
        if isinstance(element, chord.Chord):
            pitches = tuple(p.midi for p in element.pitches)
        elif isinstance(element, note.Note):
            pitches = (element.pitch.midi,)
        else:  # unpitched percussion
            continue
        length = float(element.quarterLength)
        pitches = tuple(p for p in pitches if 0 <= p <= 127)
        if length > 0 and pitches:  # grace notes take no time on the grid
            out.append((float(element.offset), pitches, length))
    return out


def _phase(part: stream.Stream, first_offset: float) -> int:
    """Steps between the bar line before ``first_offset`` and it, pickups included."""
    measures = list(part.getElementsByClass(stream.Measure))
    for m in measures:
        start = float(m.offset) - float(m.paddingLeft or 0)
        if float(m.offset) <= first_offset < float(m.offset) + float(m.quarterLength or 0) + 1e-6:
            return round((first_offset - start) / STEP_QUARTERS)
    # No measures (a flat part): bar lines every bar of its first time signature from offset 0.
    signatures = part.recurse().getElementsByClass("TimeSignature")
    bar = float(signatures[0].barDuration.quarterLength) if signatures else 4.0
    return round((first_offset % bar) / STEP_QUARTERS)


def meter_of(score: stream.Score) -> str:
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return signatures[0].ratioString if signatures else ""


@dataclass(frozen=True)
class Melody:
    """A score's melody line on the grid, where it starts in its bar, and the score's texture."""

    onsets: list[Onset]  # steps from the start of the score
    phase: int
    texture: float


def melody_of(score: stream.Score) -> Melody | None:
    """The melody line of ``score`` (its first part with notes); ``None`` when it has no notes."""
    score = score.stripTies()
    parts = list(score.parts) or [score]
    voiced = [(p, n) for p, n in ((p, _notes(p)) for p in parts) if n]
    if not voiced:
        return None
    lead, notes = voiced[0]
    grid = [
        (round(offset / STEP_QUARTERS), pitches, length / STEP_QUARTERS) for offset, pitches, length in notes
    ]
    sounding: dict[int, int] = {}  # pitches struck at each step, in every part
    for _, part_notes in voiced:
        for offset, pitches, _ in part_notes:
            step = round(offset / STEP_QUARTERS)
            sounding[step] = sounding.get(step, 0) + len(pitches)
    texture = sum(sounding.values()) / len(sounding)
    return Melody(melody_line(grid), _phase(lead, min(offset for offset, _, _ in notes)), texture)


def pieces_of(parsed: stream.Stream, source: str) -> list[Piece]:
    """Melody pieces of one parsed file; pieces with too few notes are dropped."""
    pieces = []
    for index, score in enumerate(scores_of(parsed)):
        melody = melody_of(score)
        if melody is None or len(melody.onsets) < MIN_ONSETS:
            continue
        first = melody.onsets[0].step
        shifted = [Onset(o.step - first, o.pitches, o.steps) for o in melody.onsets]
        tokens = tuple(encode(shifted))
        pieces.append(
            Piece(f"{source}#{index}", meter_of(score), tokens, melody.phase, round(melody.texture, 3))
        )
    return pieces
