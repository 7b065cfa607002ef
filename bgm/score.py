"""music21 scores to onsets (the tokenizer's front half)."""

from __future__ import annotations

from dataclasses import dataclass

from music21 import chord, note, stream

from bgm.tokens import STEP_QUARTERS, Onset, encode, quantize_steps

MIN_ONSETS = 8  # shorter pieces teach nothing and are skipped


@dataclass(frozen=True)
class Piece:
    """One tokenized piece, as cached and as labelled by mood."""

    source: str
    meter: str  # e.g. "6/8"; "" when the score has none
    tokens: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"source": self.source, "meter": self.meter, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Piece:
        return cls(str(data["source"]), str(data["meter"]), tuple(data["tokens"]))


def scores_of(parsed: stream.Stream) -> list[stream.Score]:
    """The scores inside whatever music21 parsed (an Opus holds many)."""
    if isinstance(parsed, stream.Opus):
        return list(parsed.scores)
    if isinstance(parsed, stream.Score):
        return [parsed]
    score = stream.Score()
    score.insert(0, parsed)
    return [score]


def onsets_of(score: stream.Score) -> list[Onset]:
    """Every pitched onset of ``score`` on the 16th-note grid; ties merged, octaves kept."""
    score = score.stripTies()
    source = score.chordify() if len(score.parts) > 1 else score
    onsets = []
    for element in source.flatten().notes:
        if isinstance(element, chord.Chord):
            pitches = tuple(p.midi for p in element.pitches)
        elif isinstance(element, note.Note):
            pitches = (element.pitch.midi,)
        else:  # unpitched percussion
            continue
        length = float(element.quarterLength)
        if length <= 0 or not pitches:  # grace notes take no time on the grid
            continue
        step = round(float(element.offset) / STEP_QUARTERS)
        pitches = tuple(p for p in pitches if 0 <= p <= 127)
        if pitches:
            onsets.append(Onset(step, pitches, quantize_steps(length / STEP_QUARTERS)))
    return onsets


def meter_of(score: stream.Score) -> str:
    signatures = score.recurse().getElementsByClass("TimeSignature")
    return signatures[0].ratioString if signatures else ""


def pieces_of(parsed: stream.Stream, source: str) -> list[Piece]:
    """Tokenized pieces of one parsed file; pieces with too few notes are dropped."""
    pieces = []
    for index, score in enumerate(scores_of(parsed)):
        onsets = onsets_of(score)
        if len(onsets) < MIN_ONSETS:
            continue
        first = min(o.step for o in onsets)
        shifted = [Onset(o.step - first, o.pitches, o.steps) for o in onsets]
        pieces.append(Piece(f"{source}#{index}", meter_of(score), tuple(encode(shifted))))
    return pieces
