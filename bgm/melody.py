"""What the melody network sees besides the tokens: key-normalised pitches, position in the phrase,
and the tokens one and two bars back (Magenta's Lookback RNN).

Songs are 4/4 unless a primer brings 3/4 or 6/8 (bgm/meter.py): pieces in
4/4, 2/2, 2/4 (two bars to a frame) or 4/2 are learnt on the 16-step bar,
those in 3/4 and 6/8 on their 12-step bars; other meters are left out. Every
piece is transposed so that its tonic is C (major) or A (minor): one set of
pitch classes, so the scale is the same for every piece and the composer
moves the finished tune to the song's key. The position input counts 16th
steps through a 4-bar phrase, each meter in its own range of values (4/4
0..63, 3/4 64..111, 6/8 112..159), so the network knows the meter, the
downbeat and where a phrase ends; the lookback inputs show it
what stood at this place one and two bars ago (bars of the piece's meter),
which makes repeating and answering a bar easy to learn.
"""

from __future__ import annotations

import numpy as np

from bgm.form import BAR_STEPS
from bgm.harmony import Key, estimate_key
from bgm.meter import FOUR_FOUR, METERS, Meter
from bgm.tokens import DURATIONS, HOLD, Onset, decode, encode, onset_token, parse_token

BAR = BAR_STEPS  # steps in a 4/4 bar
PHRASE_BARS = 4
POSITIONS = BAR * PHRASE_BARS  # values of the position input in 4/4
# The lookback inputs: 0 is the last note struck before the step (on a grid of 16ths that note can be
# many steps back, and melodies move mostly by step from it); n > 0 is the token n steps back.
LOOKBACK = (0, BAR, 2 * BAR)
NORMAL_TONIC = {"major": 0, "minor": 9}  # C major, A minor: the same seven pitch classes


def position_offset(meter: Meter) -> int:
    """The first value of ``meter``'s range of the position input."""
    return sum(m.phrase for m in METERS[: METERS.index(meter)])


def position_values(meters: tuple[str, ...]) -> int:
    """Values of the position input of a network that knows ``meters``: up to the end of the range
    of the last of them in ``METERS`` (4/4 and 6/8 alone leave 3/4's range unused)."""
    if not meters or len(set(meters)) != len(meters) or not set(meters) <= {m.name for m in METERS}:
        raise ValueError(
            f"a network's meters are some of {[m.name for m in METERS]}, each once, not {meters!r}"
        )
    last = max((m for m in METERS if m.name in meters), key=METERS.index)
    return position_offset(last) + last.phrase


def lookback_steps(meter: Meter, steps: tuple[int, ...] = LOOKBACK) -> tuple[int, ...]:
    """What the lookback inputs look back to in ``meter``: ``steps`` counts 4/4 bars, so n bars back."""
    return tuple(back * meter.bar // BAR for back in steps)


def normal_shift(key: Key) -> int:
    """Semitones that move ``key``'s tonic to C major / A minor, the smaller way round (-6..5)."""
    return (NORMAL_TONIC[key.mode] - key.tonic + 6) % 12 - 6


def to_key(key: Key) -> int:
    """Semitones that move a tune in C major / A minor to ``key`` (-6..5)."""
    return -normal_shift(key)


def transpose(tokens: list[str] | tuple[str, ...], semitones: int) -> list[str]:
    """``tokens`` moved by ``semitones``; raises ValueError when a pitch leaves 0..127."""
    out = []
    for token in tokens:
        parsed = parse_token(token)
        if parsed is None:
            out.append(HOLD)
            continue
        pitches = [p + semitones for p in parsed[0]]
        out.append(onset_token(pitches, parsed[1]))
    return out


def normalise(tokens: list[str] | tuple[str, ...]) -> tuple[list[str], Key]:
    """``tokens`` in C major or A minor, and the key they were in."""
    key = estimate_key(decode(list(tokens)))
    return transpose(tokens, normal_shift(key)), key


def positions(phase: int, length: int, meter: Meter = FOUR_FOUR) -> np.ndarray:
    """The position input of each of ``length`` steps of a piece in ``meter`` whose first step is
    ``phase`` steps after a phrase's first downbeat."""
    return (position_offset(meter) + (phase + np.arange(length)) % meter.phrase).astype(np.int32)


def lookbacks(ids: np.ndarray, steps: tuple[int, ...] = LOOKBACK, length: int | None = None) -> np.ndarray:
    """[length, len(steps)]: the lookback inputs of each step 0..length-1 (default: one per id) from
    the ``ids`` before it; HOLD (id 0) where there is nothing to look back to."""
    ids = np.asarray(ids, dtype=np.int32)
    length = len(ids) if length is None else length
    out = np.zeros((length, len(steps)), dtype=np.int32)
    for j, back in enumerate(steps):
        if back == 0:
            struck = np.where(ids > 0, np.arange(len(ids)), -1)
            last = np.maximum.accumulate(struck) if len(ids) else struck  # last onset at or before i
            before = np.concatenate([[-1], last])[:length]  # ... strictly before step i
            out[:, j] = np.where(before >= 0, ids[np.maximum(before, 0)] if len(ids) else 0, 0)
        else:
            n = max(min(length - back, len(ids)), 0)
            out[back : back + n, j] = ids[:n]
    return out


def floor_steps(steps: float) -> int:
    """The longest allowed duration that fits in ``steps`` (a melody note never overlaps the next)."""
    return max((d for d in DURATIONS if d <= steps + 1e-6), default=DURATIONS[0])


def melody_line(notes: list[tuple[int, tuple[int, ...], int]]) -> list[Onset]:
    """One line from (step, pitches, steps) notes: the top pitch per step, each cut where the next starts."""
    top: dict[int, tuple[int, int]] = {}
    for step, pitches, steps in notes:
        pitch = max(pitches)
        if step not in top or pitch > top[step][0]:
            top[step] = (pitch, max(steps, top.get(step, (0, 0))[1]) if step in top else steps)
    starts = sorted(top)
    line = []
    for i, step in enumerate(starts):
        pitch, steps = top[step]
        if i + 1 < len(starts):
            steps = min(steps, starts[i + 1] - step)
        line.append(Onset(step, (pitch,), floor_steps(steps)))
    return line


def one_line(tokens: list[str]) -> list[str]:
    """``tokens`` as a single line: each note cut where the next one starts (the model picks a note's
    length when it strikes it, and may strike the next one sooner)."""
    onsets = decode(tokens)
    return encode(melody_line([(o.step, o.pitches, o.steps) for o in onsets]), len(tokens))
