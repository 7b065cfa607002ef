"""The token grammar: one token per 16th-note step.

A step holds either an onset (a note or chord with its length in steps,
e.g. ``"60:4"`` or ``"48.64.67:8"``) or ``HOLD`` ("no new onset"). Rests are
not tokens: a rest is a run of ``HOLD`` after the sounding notes have ended,
so a rest can neither land after its note nor advance time twice (two bugs of
the seed). Chords keep every pitch with its octave.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bump whenever the meaning of a token or of a parsed piece changes: it keys the parse cache.
# 2: a piece is its melody line (not a chordified score), with its phase in the bar and texture.
TOKENIZER_VERSION = 2

STEP_QUARTERS = 0.25  # one step is a 16th note
HOLD = "_"
DURATIONS = (1, 2, 3, 4, 6, 8, 12, 16)  # allowed lengths, in steps
MAX_CHORD = 6  # highest pitches kept in one onset


@dataclass(frozen=True)
class Onset:
    """Notes starting together at ``step`` and lasting ``steps`` steps."""

    step: int
    pitches: tuple[int, ...]
    steps: int

    @property
    def end(self) -> int:
        return self.step + self.steps


def quantize_steps(steps: float) -> int:
    """The allowed duration nearest to ``steps`` (ties go to the shorter one)."""
    return min(DURATIONS, key=lambda d: (abs(d - steps), d))


def onset_token(pitches: tuple[int, ...] | list[int], steps: int) -> str:
    if steps not in DURATIONS:
        raise ValueError(f"duration {steps} is not one of {DURATIONS}")
    ordered = sorted(set(int(p) for p in pitches))
    if not ordered or not all(0 <= p <= 127 for p in ordered):
        raise ValueError(f"pitches must be MIDI numbers 0..127, got {pitches!r}")
    return ".".join(str(p) for p in ordered[-MAX_CHORD:]) + f":{steps}"


def parse_token(token: str) -> tuple[tuple[int, ...], int] | None:
    """``(pitches, steps)`` of an onset token, ``None`` for ``HOLD``."""
    if token == HOLD:
        return None
    try:
        pitch_part, steps_part = token.split(":")
        pitches = tuple(int(p) for p in pitch_part.split("."))
        steps = int(steps_part)
    except ValueError:
        raise ValueError(f"not a token: {token!r}") from None
    if onset_token(pitches, steps) != token:
        raise ValueError(f"not a canonical token: {token!r}")
    return pitches, steps


def encode(onsets: list[Onset], length: int | None = None) -> list[str]:
    """Tokens for ``onsets``; onsets sharing a step merge into one chord."""
    merged: dict[int, tuple[set[int], int]] = {}
    for o in onsets:
        pitches, steps = merged.get(o.step, (set(), 0))
        merged[o.step] = (pitches | set(o.pitches), max(steps, o.steps))
    if length is None:
        length = max((o.end for o in onsets), default=0)
    tokens = [HOLD] * length
    for step, (pitches, steps) in merged.items():
        if 0 <= step < length:
            tokens[step] = onset_token(tuple(pitches), steps)
    return tokens


def decode(tokens: list[str]) -> list[Onset]:
    """Onsets for ``tokens``, in step order."""
    onsets = []
    for step, token in enumerate(tokens):
        parsed = parse_token(token)
        if parsed is not None:
            onsets.append(Onset(step, parsed[0], parsed[1]))
    return onsets


def top_note(token: str) -> str:
    """The melody of an onset (its highest pitch), for folding rare chords."""
    parsed = parse_token(token)
    if parsed is None:
        return token
    return onset_token((max(parsed[0]),), parsed[1])
