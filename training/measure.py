"""The quality gate's figures for one Keras model: perplexity on given pieces and songs it samples.

Both models under comparison (the candidate and the live version) are measured on the *same* pieces
with the same seeds, each through its own vocabulary and window, so the figures compare fairly even
when a fine-tune grew the vocabulary or a new network reads a longer window.

Songs: from a primer window cut out of the reference pieces (one per mood, a few seeds), the model
samples ``steps`` tokens at temperature 1 (what it believes, not a decoding trick), re-reading its
window each step, with the position and lookback inputs a melody network takes. Each sampled part is
measured with ``bgm.metrics``: pitch-class entropy, scale consistency and the share of empty beats,
the figures that show a network stuck on one note or falling silent.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
import numpy as np

from bgm import melody, metrics
from bgm.moods import MOODS
from training.dataset import Labelled, windows
from training.loop import fixed_validation
from training.model import ModelConfig
from training.vocab import Vocabulary

SONG_METRICS = ("pitch_class_entropy", "scale_consistency", "empty_beat_rate")


@dataclass(frozen=True)
class Songs:
    """Means over the sampled parts (NaN when no part had notes)."""

    pitch_class_entropy: float
    scale_consistency: float
    empty_beat_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


def _inputs(model: keras.Model, x: dict) -> dict:
    """The inputs this network takes (a network without melody inputs gets no position or lookback)."""
    names = {tensor.name.split(":")[0] for tensor in model.inputs}
    return {k: v for k, v in x.items() if k in names}


def perplexity(
    model: keras.Model, config: ModelConfig, vocab: Vocabulary, pieces: list[Labelled], limit: int, seed: int
) -> float:
    """exp(mean cross-entropy) of the next token over up to ``limit`` fixed windows of ``pieces``."""
    w = windows(pieces, vocab, config.window, config.positions)
    if len(w) == 0:
        return math.nan
    x, y = fixed_validation(w, limit, seed)
    logits = model.predict(_inputs(model, x), batch_size=256, verbose=0)
    logits = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    targets = np.asarray(y).reshape(-1)
    log_z = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    nll = log_z - logits[np.arange(len(targets)), targets]
    return float(np.exp(nll.mean()))


def primers(pieces: list[Labelled], window: int, count: int, seed: int) -> list[tuple[list[str], int, int]]:
    """(tokens, phase of the first token, mood index) windows to start songs from: one per mood and seed,
    each from a piece of that mood when there is one long enough."""
    rng = np.random.default_rng(seed)
    long_enough = [p for p in pieces if len(p.piece.tokens) > window]
    out = []
    for _ in range(count):
        for m, mood in enumerate(MOODS):
            pool = [p for p in long_enough if p.mood == mood] or long_enough
            if not pool:
                return []
            item = pool[rng.integers(len(pool))]
            start = int(rng.integers(len(item.piece.tokens) - window))
            out.append((list(item.piece.tokens[start : start + window]), item.piece.phase + start, m))
    return out


def _logits(model: keras.Model, config: ModelConfig, ids: np.ndarray, phases: np.ndarray, moods: np.ndarray):
    """Next-token logits after each row of ``ids`` [rows, n] (n >= window)."""
    n, w = ids.shape[1], config.window
    extended = np.concatenate([ids, np.zeros((len(ids), 1), np.int32)], axis=1)  # the step being predicted
    x = {
        "tokens": ids[:, n - w :],
        "mood": moods,
        "position": np.stack([melody.positions(p, n + 1)[n - w + 1 :] for p in phases]),
        "lookback": np.stack([melody.lookbacks(row)[n - w + 1 :] for row in extended]),
    }
    # predict_on_batch runs Keras's compiled predict function (traced once): an eager call of a
    # recurrent network costs ~0.8 s of Python per step on 2 cores (200 s for a tiny model's gate).
    out = np.asarray(model.predict_on_batch(_inputs(model, x)))
    return out[:, -1] if out.ndim == 3 else out


def songs(
    model: keras.Model,
    config: ModelConfig,
    vocab: Vocabulary,
    starts: list[tuple[list[str], int, int]],
    steps: int,
    seed: int,
) -> Songs:
    """Sample ``steps`` tokens after each start window and measure the parts."""
    if not starts:
        return Songs(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    ids = np.array([vocab.ids(tokens[-config.window :]) for tokens, _, _ in starts], dtype=np.int32)
    if ids.shape[1] < config.window:  # a reference window shorter than this network's: pad with HOLD
        ids = np.pad(ids, ((0, 0), (config.window - ids.shape[1], 0)))
    phases = np.array([phase + len(tokens) - ids.shape[1] for tokens, phase, _ in starts])
    moods = np.array([m for _, _, m in starts], dtype=np.int32)
    primed = ids.shape[1]
    for _ in range(steps):
        logits = _logits(model, config, ids, phases, moods).astype(np.float64)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        picked = [rng.choice(len(row), p=row) for row in p]
        ids = np.concatenate([ids, np.array(picked, np.int32)[:, None]], axis=1)
    parts = [[vocab.tokens[i] for i in row[primed:]] for row in ids]
    figures = {
        name: metrics.summary(getattr(metrics, name)(part) for part in parts)["mean"] for name in SONG_METRICS
    }
    return Songs(**figures)


def corpus_songs(pieces: list[Labelled], steps: int, limit: int, seed: int) -> dict[str, dict]:
    """Mean and std of the song figures over up to ``limit`` part-sized chunks of the pieces."""
    rng = np.random.default_rng(seed)
    chunks = []
    for item in pieces:
        tokens = item.piece.tokens
        for start in range(0, len(tokens) - steps + 1, steps):
            chunks.append(tokens[start : start + steps])
    if len(chunks) > limit:
        chunks = [chunks[i] for i in rng.choice(len(chunks), limit, replace=False)]
    return {name: metrics.summary(getattr(metrics, name)(c) for c in chunks) for name in SONG_METRICS}
