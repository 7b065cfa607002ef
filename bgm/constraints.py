"""Rules the melody keeps while it is sampled: in key, in range, no wild leaps, never silent for long.

They act on the model's logits before sampling, one row per part being
composed, for a model whose tunes come out in C major / A minor
(bgm/melody.py). Out-of-key notes are made much less likely, not forbidden:
a chromatic passing note the model is sure of survives. A melody that has
been silent for ``max_rest`` steps must strike a note: one run of "no new
onset" tokens could otherwise swallow bars (the shipped v2 went silent for 17
beats). Pitches outside the register and leaps over an octave are ruled out,
and every leap is made a little less likely the wider it is, a repeated note
too (a tune moves mostly by step; a small model trained briefly spreads its
guesses over the chord tones around the last note). No note of a lead that
dies away (a piano) is longer than a dotted half before a part's last bar. A
part ends on a cadence: its last bar opens with the tonic, which also tells a
minor tune from its relative major.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bgm.instruments import sustains
from bgm.tokens import DURATIONS, onset_token, parse_token

# Pitch classes of C major / A natural minor, plus G#, the leading tone of A minor.
SCALE = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 4, 5, 7, 8, 9, 11)}
TONIC = {"major": 0, "minor": 9}  # C major, A minor (bgm/melody.py NORMAL_TONIC)
HOLDING = 16  # Rules.longest for a lead that sustains: a whole bar


@dataclass(frozen=True)
class Rules:
    mode: str = "major"
    out_of_key: float = 0.03  # an out-of-key note's probability is multiplied by this
    max_rest: int = 4  # steps of silence after which a note must start (a quarter rest)
    low: int = 55  # the register, in the normalised key (G3..D6)
    high: int = 86
    max_leap: int = 12
    leap_cost: float = 0.15  # log-probability taken per semitone of a leap beyond a whole step
    repeat_cost: float = 1.0  # log-probability taken from striking the last pitch again
    # The longest note (steps) before the part's last bar: a piano lead's note held for a whole bar
    # dies away into silence mid-phrase, so a lead that dies away holds a dotted half at most (a
    # longer note the model picks is struck this long instead, same pitch); a lead that sustains
    # may hold a whole bar (``HOLDING``), as slow airs do.
    longest: int = 12
    # The rules above choose which note, not whether one starts: the notes' share of the step is
    # scaled back to the model's, or every penalty would hold the last note longer instead.
    keep_onset_odds: bool = True


def longest_note(lead: int) -> int:
    """``Rules.longest`` for a melody played by General MIDI program ``lead``."""
    return HOLDING if sustains(lead) else Rules.longest


@dataclass
class LineState:
    """Where one row's melody stands: when its last note ends, and its pitch."""

    sounding_until: int = 0
    last_pitch: int | None = None


@dataclass
class Constraints:
    """``Rules`` applied to a vocabulary, for rows that advance one step at a time."""

    vocab: tuple[str, ...]
    rules: Rules
    rows: int
    cadence: int | None = None  # the step that must strike the tonic (the last bar's downbeat)
    step: int = 0
    lines: list[LineState] = field(default_factory=list)

    def __post_init__(self) -> None:
        parsed = [parse_token(t) for t in self.vocab]
        self.pitch = np.array([max(p[0]) if p else -1 for p in parsed])
        self.steps = np.array([p[1] if p else 0 for p in parsed])
        self.is_onset = self.pitch >= 0
        in_key = np.isin(self.pitch % 12, SCALE[self.rules.mode])
        self.key_penalty = np.where(self.is_onset & ~in_key, np.log(self.rules.out_of_key), 0.0)
        in_range = (self.pitch >= self.rules.low) & (self.pitch <= self.rules.high)
        self.allowed = ~self.is_onset | in_range
        self.tonic = self.is_onset & (self.pitch % 12 == TONIC[self.rules.mode])
        # Each token longer than ``longest``, and the same onset at the longest length allowed (-1: none).
        index = {t: i for i, t in enumerate(self.vocab)}
        allowed = max((d for d in DURATIONS if d <= self.rules.longest), default=DURATIONS[0])
        self.too_long = np.flatnonzero(self.is_onset & (self.steps > self.rules.longest))
        self.cut_to = np.array(
            [index.get(onset_token(parsed[i][0], allowed), -1) for i in self.too_long], dtype=int
        )
        if not self.lines:
            self.lines = [LineState() for _ in range(self.rows)]

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` [rows, vocab] with this step's rules applied (a new array)."""
        model = logits.astype(np.float64)
        if self.cadence is None or self.step < self.cadence:
            model = self._cut_long_notes(model)
        out = model + self.key_penalty
        out[:, ~self.allowed] = -np.inf
        for r, line in enumerate(self.lines):
            if line.last_pitch is not None:
                interval = np.abs(self.pitch - line.last_pitch)
                out[r, self.is_onset] -= self.rules.leap_cost * np.maximum(interval - 2, 0)[self.is_onset]
                out[r, self.is_onset & (interval == 0)] -= self.rules.repeat_cost
                out[r, self.is_onset & (interval > self.rules.max_leap)] = -np.inf
            if self.rules.keep_onset_odds:
                out[r] = self._onset_odds_of(logits[r], out[r])
            if self.must_strike(r):
                out[r, ~self.is_onset] = -np.inf
            if self.step == self.cadence:
                out[r, ~self.tonic] = -np.inf
            if not np.isfinite(out[r]).any():  # nothing left: fall back to the model alone
                out[r] = logits[r]
        return out

    def keep_rhythm(self, logits: np.ndarray, row: int, source: int) -> np.ndarray:
        """``logits`` (this step's, ruled) with ``row`` left to tokens of ``source``'s rhythm: a hold
        where it holds, else a note of its length at any pitch (a phrase plan's echo). Unchanged where
        nothing would be left, or where the row has rested so long it must strike."""
        if not self.is_onset[source] and self.must_strike(row):
            return logits
        same = (self.is_onset == self.is_onset[source]) & (self.steps == self.steps[source])
        kept = np.where(same, logits[row], -np.inf)
        if not np.isfinite(kept).any():
            return logits
        out = logits.copy()
        out[row] = kept
        return out

    def _cut_long_notes(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with each too-long note's chance moved to the same note at the longest length."""
        out = logits.copy()
        has = self.cut_to >= 0
        for long, short in zip(self.too_long[has], self.cut_to[has], strict=True):
            out[:, short] = np.logaddexp(out[:, short], out[:, long])
        out[:, self.too_long] = -np.inf
        return out

    def _onset_odds_of(self, model: np.ndarray, ruled: np.ndarray) -> np.ndarray:
        """``ruled`` with its notes scaled back to the chance ``model`` gave a note starting here."""
        before = _logsumexp(model[self.is_onset].astype(np.float64))
        after = _logsumexp(ruled[self.is_onset])
        if not np.isfinite(after):
            return ruled
        kept = ruled.copy()
        kept[self.is_onset] += before - after
        return kept

    def must_strike(self, row: int) -> bool:
        """Whether ``row`` has been silent so long that this step must start a note."""
        return self.step - self.lines[row].sounding_until >= self.rules.max_rest

    def advance(self, ids: np.ndarray) -> None:
        """Record the tokens chosen (or forced) for this step, one per row."""
        for line, i in zip(self.lines, ids, strict=True):
            if self.is_onset[i]:
                line.sounding_until = self.step + int(self.steps[i])
                line.last_pitch = int(self.pitch[i])
        self.step += 1

    def start_from(self, tokens: list[list[str]]) -> None:
        """Take each row's last pitch from the tokens before step 0 (a primer, or the part before).

        Silence is counted from step 0 whatever sounded before: a part's primer is not played, and
        the section before it in the song is another part, which ends silent for at most
        ``max_rest`` steps; so a join is never silent for more than twice that.
        """
        for line, row in zip(self.lines, tokens, strict=True):
            for token in reversed(row):
                parsed = parse_token(token)
                if parsed is not None:
                    line.last_pitch = max(parsed[0])
                    break


def _logsumexp(values: np.ndarray) -> float:
    top = values.max(initial=-np.inf)
    return float(top + np.log(np.exp(values - top).sum())) if np.isfinite(top) else -np.inf
