"""The networks: the seed's BLSTM, and a causal LSTM that generates in constant time per token.

Seed: BLSTM(512) -> Dropout(0.3) -> BLSTM(512) -> Dense(vocab) -> softmax over
``index / n_vocab`` inputs. Here the input is a token embedding (a scalar
index makes neighbouring ids look alike when they are unrelated), the mood is
an embedding repeated along the window, and the head returns logits so the
composer can apply temperature and top-p itself.

``arch="blstm"`` is the seed's network: every new token re-reads the whole
window in both directions. ``arch="lstm"`` reads left to right only, learns
the next token at several positions of a window, and can carry its state from
one token to the next, so generation costs one LSTM step per token instead
of a pass over the window in both directions (about 64x fewer FLOPs; see
bench/generation.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

ARCHS = ("blstm", "lstm")
# The causal network learns the next token at the last TRAINED_STEPS positions of each window: the
# earlier ones have seen little context, and each trained position pays for a softmax over the vocabulary.
TRAINED_STEPS = 8


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_moods: int
    window: int = 32
    units: int = 128
    embedding: int = 64
    mood_embedding: int = 16
    dropout: float = 0.3
    arch: str = "blstm"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")

    @property
    def state_size(self) -> int:
        """Floats of carried state per row (h and c of both layers); 0 when the network carries none."""
        return 4 * self.units if self.arch == "lstm" else 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _inputs(config: ModelConfig):
    tokens = keras.Input(shape=(config.window,), dtype="int32", name="tokens")
    mood = keras.Input(shape=(), dtype="int32", name="mood")
    x = layers.Embedding(config.vocab_size, config.embedding, name="token_embedding")(tokens)
    m = layers.Embedding(config.n_moods, config.mood_embedding, name="mood_embedding")(mood)
    x = layers.Concatenate(name="with_mood")([x, layers.RepeatVector(config.window)(m)])
    return tokens, mood, x


def build(config: ModelConfig, use_cudnn: bool | str = "auto", unroll: bool = False) -> keras.Model:
    """The network of ``config.arch``.

    Export builds it with ``use_cudnn=False`` so the graph loads on a CPU server, and the BLSTM
    with ``unroll=True``: 32 unrolled steps run about 1.5x faster at batch 1 than a while loop.
    """
    tokens, mood, x = _inputs(config)
    if config.arch == "lstm":
        # return_state lets export run the same layers one step at a time (training ignores it).
        for name in ("lstm_1", "lstm_2"):
            x = layers.LSTM(
                config.units, return_sequences=True, return_state=True, use_cudnn=use_cudnn, name=name
            )(x)[0]
            x = layers.Dropout(config.dropout)(x)
        x = x[:, -TRAINED_STEPS:]
    else:
        lstm = {"use_cudnn": use_cudnn, "unroll": unroll}
        x = layers.Bidirectional(layers.LSTM(config.units, return_sequences=True, **lstm), name="blstm_1")(x)
        x = layers.Dropout(config.dropout)(x)
        x = layers.Bidirectional(layers.LSTM(config.units, **lstm), name="blstm_2")(x)
        x = layers.Dropout(config.dropout)(x)
    # blstm: [batch, vocab] for the next token; lstm: [batch, TRAINED_STEPS, vocab], each position's next.
    logits = layers.Dense(config.vocab_size, name="logits")(x)
    return keras.Model(inputs={"tokens": tokens, "mood": mood}, outputs=logits, name=f"bgm_{config.arch}")


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
