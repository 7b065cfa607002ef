"""Choosing the next token from logits: temperature and top-p (nucleus), never argmax.

Argmax on this model loops on one note; sampling from the top-p nucleus
keeps the tune moving while ruling out the long tail of unlikely tokens.
"""

from __future__ import annotations

import numpy as np


def sample(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of ``logits`` [rows, vocab]."""
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be > 0 and top_p in (0, 1]")
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    cumulative = np.cumsum(sorted_probs, axis=1)
    # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
    keep = cumulative - sorted_probs < top_p
    sorted_probs = np.where(keep, sorted_probs, 0.0)
    sorted_probs /= sorted_probs.sum(axis=1, keepdims=True)
    draws = rng.random(len(logits))[:, None]
    picks = (np.cumsum(sorted_probs, axis=1) < draws).sum(axis=1)
    picks = np.minimum(picks, keep.sum(axis=1) - 1)
    return order[np.arange(len(logits)), picks]


def greedy(logits: np.ndarray) -> np.ndarray:
    """The seed's decoder, kept only to measure what sampling fixes (bench/quality.py)."""
    return logits.argmax(axis=1)
