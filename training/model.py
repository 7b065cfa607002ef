"""The seed's network, with its input fixed and conditioned on the mood.

Seed: BLSTM(512) -> Dropout(0.3) -> BLSTM(512) -> Dense(vocab) -> softmax over
``index / n_vocab`` inputs. Here the input is a token embedding (a scalar
index makes neighbouring ids look alike when they are unrelated), the mood is
an embedding repeated along the window, and the head returns logits so the
composer can apply temperature and top-p itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_moods: int
    window: int = 32
    units: int = 128
    embedding: int = 64
    mood_embedding: int = 16
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def build(config: ModelConfig, use_cudnn: bool | str = "auto") -> keras.Model:
    """The BLSTM; export builds it with ``use_cudnn=False`` so the graph loads on a CPU server."""
    tokens = keras.Input(shape=(config.window,), dtype="int32", name="tokens")
    mood = keras.Input(shape=(), dtype="int32", name="mood")
    x = layers.Embedding(config.vocab_size, config.embedding, name="token_embedding")(tokens)
    m = layers.Embedding(config.n_moods, config.mood_embedding, name="mood_embedding")(mood)
    x = layers.Concatenate(name="with_mood")([x, layers.RepeatVector(config.window)(m)])
    x = layers.Bidirectional(
        layers.LSTM(config.units, return_sequences=True, use_cudnn=use_cudnn), name="blstm_1"
    )(x)
    x = layers.Dropout(config.dropout)(x)
    x = layers.Bidirectional(layers.LSTM(config.units, use_cudnn=use_cudnn), name="blstm_2")(x)
    x = layers.Dropout(config.dropout)(x)
    logits = layers.Dense(config.vocab_size, name="logits")(x)
    return keras.Model(inputs={"tokens": tokens, "mood": mood}, outputs=logits, name="bgm_blstm")


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
