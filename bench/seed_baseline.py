"""The seed's generation loop, written afresh, as the baseline every speed figure is a ratio to.

As in ../shared/seed: two BLSTM(512) layers over a window of 32 inputs ``index / n_vocab``, a
softmax head, ``model.predict`` once per token, argmax, and four parts of 4x32 tokens (verse 1,
verse 2 continuing verse 1, chorus, bridge). Untrained weights: only the cost of the loop matters.

    .venv/bin/python bench/seed_baseline.py            # the whole song (about a minute)
    .venv/bin/python bench/seed_baseline.py --parts 1  # one part, the song's time extrapolated
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

WINDOW = 32
PART_TOKENS = 4 * WINDOW
SONG_PARTS = 4
DEFAULT_VOCAB = 3463  # the shipped model's vocabulary


def seed_network(n_vocab: int, units: int = 512, window: int = WINDOW):
    """The seed's create_network: BLSTM -> Dropout -> BLSTM -> Dense -> softmax."""
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input((window, 1)),
            layers.Bidirectional(layers.LSTM(units, return_sequences=True)),
            layers.Dropout(0.3),
            layers.Bidirectional(layers.LSTM(units)),
            layers.Dense(n_vocab),
            layers.Activation("softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def generate_part(model, pattern: list[int], n_vocab: int, tokens: int) -> tuple[list[int], list[int]]:
    """The seed's per-token loop; returns the part and the pattern it ends on (verse 2 goes on from it)."""
    pattern = list(pattern)  # the seed mutated its start pattern in place; this copy does not
    out = []
    for _ in range(tokens):
        prediction_input = np.reshape(pattern, (1, len(pattern), 1)) / float(n_vocab)
        prediction = model.predict(prediction_input, verbose=0)
        index = int(np.argmax(prediction))
        out.append(index)
        pattern = pattern[1:] + [index]
    return out, pattern


def measure(units: int = 512, n_vocab: int = DEFAULT_VOCAB, parts: int = SONG_PARTS, seed: int = 0) -> dict:
    """ms per token and seconds per song of the seed's loop (``parts`` of the song's four timed)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = seed_network(n_vocab, units)
    rng = np.random.default_rng(seed)

    def start() -> list[int]:
        return rng.integers(0, n_vocab, WINDOW).tolist()

    generate_part(model, start(), n_vocab, 2)  # the first predict builds the function: not the loop's cost
    started = time.perf_counter()
    verse1, end = generate_part(model, start(), n_vocab, PART_TOKENS)
    for part in range(1, parts):
        # verse 2 continues verse 1; chorus and bridge start from fresh patterns
        generate_part(model, end if part == 1 else start(), n_vocab, PART_TOKENS)
    seconds = time.perf_counter() - started
    tokens = parts * PART_TOKENS
    return {
        "units": units,
        "vocab": n_vocab,
        "tokens_timed": tokens,
        "ms_per_token": 1000 * seconds / tokens,
        "s_per_song": seconds / tokens * SONG_PARTS * PART_TOKENS,
        "songs_per_min": 60 / (seconds / tokens * SONG_PARTS * PART_TOKENS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=DEFAULT_VOCAB)
    parser.add_argument("--parts", type=int, default=SONG_PARTS, choices=range(1, SONG_PARTS + 1))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = measure(args.units, args.vocab, args.parts)
    print(
        f"seed loop, BLSTM {result['units']}x2, vocab {result['vocab']}: "
        f"{result['ms_per_token']:.1f} ms/token, {result['s_per_song']:.1f} s/song"
        f" ({result['tokens_timed']} tokens timed)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
