"""From labelled pieces to training windows.

A piece is kept when its time signature is on the grid of a meter bgm writes
in (bgm/meter.py: 4/4, 3/4, 6/8), moved to C major / A minor (bgm/melody.py)
and labelled with a mood. A window is
``window`` tokens; each of its steps comes with the position and lookback
inputs of the step it predicts. The causal network learns the next token at
the last ``positions`` steps of a window, the BLSTM at the last one.

Pieces, not windows, are split into training and validation, so no window of
a validation piece is ever seen in training. Each mood is drawn with weight
proportional to the square root of its share, so the large folk collections
do not drown the rarer moods while every window still gets its turn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from bgm import melody
from bgm.meter import FOUR_FOUR, Meter, meter_for
from bgm.moods import MOODS, features, mood_of
from bgm.score import Piece
from bgm.tokens import decode
from training.vocab import Vocabulary


@dataclass(frozen=True)
class Labelled:
    piece: Piece  # its tokens in C major or A minor
    mood: str
    meter: Meter = FOUR_FOUR  # whose grid its time signature is written on


def label(pieces: list[Piece]) -> list[Labelled]:
    """Pieces on the grid of a meter, key-normalised and labelled; the rest are left out."""
    out = []
    for p in pieces:
        meter = meter_for(p.meter)
        if meter is None:
            continue
        try:
            tokens, _ = melody.normalise(p.tokens)
        except ValueError:  # a pitch would leave the MIDI range
            continue
        f = replace(features(decode(tokens), len(tokens), p.meter), texture=p.texture)
        out.append(Labelled(replace(p, tokens=tuple(tokens)), mood_of(f), meter))
    return out


def in_meters(labelled: list[Labelled], meters: tuple[str, ...]) -> list[Labelled]:
    return [item for item in labelled if item.meter.name in meters]


def mood_summary(labelled: list[Labelled]) -> dict[str, tuple[int, int]]:
    """Pieces and tokens per mood, every mood listed."""
    pieces = Counter(item.mood for item in labelled)
    tokens = Counter()
    for item in labelled:
        tokens[item.mood] += len(item.piece.tokens)
    return {m: (pieces[m], tokens[m]) for m in MOODS}


@dataclass(frozen=True)
class Windows:
    """All windows of some pieces: ``ids[start:start+window]`` predicts ``ids[start+1:start+window+1]``,
    of which the last ``positions`` are trained."""

    ids: np.ndarray  # int32, the pieces' ids concatenated
    position: np.ndarray  # int32, the position input of each step
    lookback: np.ndarray  # int32 [steps, lookbacks], the lookback inputs of each step (bgm/melody.py)
    starts: np.ndarray  # int64, one per window
    moods: np.ndarray  # int32, one per window
    window: int
    positions: int = 1  # how many of the last positions are trained

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        starts = self.starts[rows]
        steps = starts[:, None] + np.arange(self.window)
        inputs = {
            "tokens": self.ids[steps],
            "position": self.position[steps + 1],
            "lookback": self.lookback[steps + 1],
            "mood": self.moods[rows],
        }
        targets = self.ids[steps[:, -self.positions :] + 1]
        return inputs, targets if self.positions > 1 else targets[:, 0]

    def targets(self) -> np.ndarray:
        return self.ids[self.starts + self.window]


def windows(
    labelled: list[Labelled],
    vocab: Vocabulary,
    window: int,
    positions: int = 1,
    looks_back: tuple[int, ...] = melody.LOOKBACK,
) -> Windows:
    ids, position, lookback, starts, moods = [], [], [], [], []
    offset = 0
    for item in labelled:
        piece_ids = np.asarray(vocab.ids(item.piece.tokens), dtype=np.int32)
        count = len(piece_ids) - window
        if count > 0:
            starts.append(np.arange(offset, offset + count))
            moods.append(np.full(count, MOODS.index(item.mood), dtype=np.int32))
        ids.append(piece_ids)
        position.append(melody.positions(item.piece.phase, len(piece_ids), item.meter))
        lookback.append(melody.lookbacks(piece_ids, melody.lookback_steps(item.meter, looks_back)))
        offset += len(piece_ids)

    def joined(parts: list[np.ndarray], dtype, shape=(0,)) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype=dtype)

    return Windows(
        joined(ids, np.int32),
        joined(position, np.int32),
        joined(lookback, np.int32, (0, len(looks_back))),
        joined(starts, np.int64),
        joined(moods, np.int32),
        window,
        positions,
    )


def split(labelled: list[Labelled], validation: float, seed: int) -> tuple[list[Labelled], list[Labelled]]:
    """Training and validation pieces; a single piece serves as both (its loss is then not independent)."""
    if len(labelled) < 2:
        return labelled, labelled
    order = np.random.default_rng(seed).permutation(len(labelled))
    val = {int(i) for i in order[: min(len(labelled) - 1, max(1, round(len(labelled) * validation)))]}
    return [x for i, x in enumerate(labelled) if i not in val], [
        x for i, x in enumerate(labelled) if i in val
    ]


def sampling_weights(w: Windows) -> np.ndarray:
    """Per-window probabilities: moods weighted by the square root of their size."""
    counts = np.bincount(w.moods, minlength=len(MOODS)).astype(float)
    per_mood = np.sqrt(counts) / np.maximum(counts, 1)
    p = per_mood[w.moods]
    return p / p.sum()


def epoch_rows(w: Windows, count: int, rng: np.random.Generator) -> np.ndarray:
    """Rows for one epoch of ``count`` windows (all of them, shuffled, when count >= len)."""
    if count >= len(w):
        return rng.permutation(len(w))
    return rng.choice(len(w), size=count, replace=False, p=sampling_weights(w))


def primers(
    labelled: list[Labelled],
    vocab: Vocabulary,
    window: int,
    per_mood: int,
    seed: int,
    meter: Meter = FOUR_FOUR,
) -> np.ndarray:
    """[moods, per_mood, window] windows of pieces in ``meter`` of each mood (of any mood when a mood
    has none), each ending where a phrase ends, so that a part composed after one starts on a
    phrase's first downbeat."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(MOODS), per_mood, window), dtype=np.int32)
    candidates = {mood: [] for mood in MOODS}
    for item in (item for item in labelled if item.meter == meter):
        first_end = -item.piece.phase % meter.phrase  # steps to the first phrase start after step 0
        ends = range(first_end, len(item.piece.tokens) + 1, meter.phrase)
        for end in ends:
            if end >= window:
                candidates[item.mood].append(item.piece.tokens[end - window : end])
    pool_all = [c for mood in MOODS for c in candidates[mood]]
    for m, mood in enumerate(MOODS):
        pool = candidates[mood] or pool_all
        if not pool:
            continue
        for k, i in enumerate(rng.choice(len(pool), size=per_mood, replace=len(pool) < per_mood)):
            out[m, k] = vocab.ids(pool[i])
    return out


def unigram_perplexity(train: Windows, val: Windows, vocab_size: int) -> float:
    """Perplexity on ``val`` of next-token frequencies counted on ``train`` (add-one smoothed)."""
    counts = np.bincount(train.targets(), minlength=vocab_size).astype(float) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[val.targets()].mean()))
