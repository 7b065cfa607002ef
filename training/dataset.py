"""From labelled pieces to training windows: (tokens[window], mood) -> next token.

For the causal network the last ``positions`` of a window each predict
their next token.

Pieces, not windows, are split into training and validation, so no window of
a validation piece is ever seen in training. Each mood is drawn with weight
proportional to the square root of its share, so the large folk collections
do not drown the rarer moods while every window still gets its turn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from bgm.moods import MOODS, features, mood_of
from bgm.score import Piece
from bgm.tokens import decode
from training.vocab import Vocabulary


@dataclass(frozen=True)
class Labelled:
    piece: Piece
    mood: str


def label(pieces: list[Piece]) -> list[Labelled]:
    return [Labelled(p, mood_of(features(decode(list(p.tokens)), len(p.tokens), p.meter))) for p in pieces]


def mood_summary(labelled: list[Labelled]) -> dict[str, tuple[int, int]]:
    """Pieces and tokens per mood, every mood listed."""
    pieces = Counter(item.mood for item in labelled)
    tokens = Counter()
    for item in labelled:
        tokens[item.mood] += len(item.piece.tokens)
    return {m: (pieces[m], tokens[m]) for m in MOODS}


@dataclass(frozen=True)
class Windows:
    """All windows of some pieces: ``ids[start:start+window]`` predicts ``ids[start+window]``
    (with ``positions`` > 1, the last ``positions`` positions each predict their next token)."""

    ids: np.ndarray  # int32, the pieces' ids concatenated
    starts: np.ndarray  # int64, one per window
    moods: np.ndarray  # int32, one per window
    window: int
    positions: int = 1  # how many of the last positions are trained

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        starts = self.starts[rows]
        tokens = self.ids[starts[:, None] + np.arange(self.window)]
        if self.positions > 1:
            targets = self.ids[starts[:, None] + np.arange(self.window - self.positions + 1, self.window + 1)]
        else:
            targets = self.ids[starts + self.window]
        return {"tokens": tokens, "mood": self.moods[rows]}, targets

    def targets(self) -> np.ndarray:
        return self.ids[self.starts + self.window]


def windows(labelled: list[Labelled], vocab: Vocabulary, window: int, positions: int = 1) -> Windows:
    ids, starts, moods = [], [], []
    offset = 0
    for item in labelled:
        piece_ids = vocab.ids(item.piece.tokens)
        count = len(piece_ids) - window
        if count > 0:
            starts.append(np.arange(offset, offset + count))
            moods.append(np.full(count, MOODS.index(item.mood), dtype=np.int32))
        ids += piece_ids
        offset += len(piece_ids)
    return Windows(
        np.asarray(ids, dtype=np.int32),
        np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64),
        np.concatenate(moods) if moods else np.zeros(0, dtype=np.int32),
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


def primers(labelled: list[Labelled], vocab: Vocabulary, window: int, per_mood: int, seed: int) -> np.ndarray:
    """[moods, per_mood, window] opening windows of pieces of each mood (any piece when a mood has none)."""
    rng = np.random.default_rng(seed)
    openings = [item for item in labelled if len(item.piece.tokens) >= window]
    out = np.zeros((len(MOODS), per_mood, window), dtype=np.int32)
    for m, mood in enumerate(MOODS):
        pool = [x for x in openings if x.mood == mood] or openings
        if not pool:
            continue
        for k, i in enumerate(rng.choice(len(pool), size=per_mood, replace=len(pool) < per_mood)):
            out[m, k] = vocab.ids(pool[i].piece.tokens[:window])
    return out


def unigram_perplexity(train: Windows, val: Windows, vocab_size: int) -> float:
    """Perplexity on ``val`` of next-token frequencies counted on ``train`` (add-one smoothed)."""
    counts = np.bincount(train.targets(), minlength=vocab_size).astype(float) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[val.targets()].mean()))
