"""The networks: the seed's BLSTM, and a causal LSTM that generates in constant time per token.

Seed: BLSTM(512) -> Dropout(0.3) -> BLSTM(512) -> Dense(vocab) -> softmax over
``index / n_vocab`` inputs. Here the input is a token embedding (a scalar
index makes neighbouring ids look alike when they are unrelated), the mood is
an embedding repeated along the window, and the head returns logits so the
composer can apply temperature and top-p itself.

With ``melody_inputs`` (bgm/melody.py) each step also sees the position, in a
4-bar phrase, of the step it predicts and the tokens one and two bars before
that step (embedded with the same table as the tokens): the network can tell
downbeats from offbeats and repeat or answer a bar. Each of its ``meters``
has its own range of positions (4/4 first; ``bgm train --add-meters`` grows
a 4/4 network by 3/4 and 6/8). Versions exported before
had only tokens and mood; their configs load with ``melody_inputs=False``.

``arch="blstm"`` is the seed's network: every new token re-reads the whole
window in both directions. ``arch="lstm"`` reads left to right only, learns
the next token at the last ``trained_steps`` positions of a window, and can
carry its state from one token to the next, so generation costs one LSTM step
per token instead of a pass over the window in both directions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers

from bgm import contract
from bgm.melody import LOOKBACK, position_values

ARCHS = ("blstm", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_moods: int
    window: int = 64
    units: int = 192
    embedding: int = 64
    mood_embedding: int = 16
    dropout: float = 0.3
    arch: str = "lstm"
    melody_inputs: bool = True
    position_embedding: int = 16
    lookback: tuple[int, ...] = LOOKBACK  # what the lookback inputs look back to (bgm/melody.py)
    # Causal network: positions of a window that learn their next token (the first few have seen
    # little context). Older versions trained the last 8 of 32.
    trained_steps: int = 8
    meters: tuple[str, ...] = ("4/4",)  # it writes in (bgm/meter.py); each has a range of positions

    def __post_init__(self) -> None:
        object.__setattr__(self, "meters", tuple(self.meters))  # a list, when read from JSON
        position_values(self.meters)  # raises for meters a network cannot have
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if not 1 <= self.trained_steps <= self.window:
            raise ValueError("trained_steps must be between 1 and the window")

    @property
    def state_size(self) -> int:
        """Floats of carried state per row (h and c of both layers); 0 when the network carries none."""
        return 4 * self.units if self.arch == "lstm" else 0

    @property
    def positions(self) -> int:
        """How many positions of a training window learn their next token."""
        return self.trained_steps if self.arch == "lstm" else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        # Configs written before melody inputs existed describe the older networks.
        legacy = {
            "melody_inputs": False, "trained_steps": 8, "window": 32, "units": 128, "arch": "blstm",
            "lookback": (16, 32),
        }  # fmt: skip
        fields = {
            k: data[k] if k in data else legacy[k]
            for k in cls.__dataclass_fields__
            if k in data or k in legacy
        }
        return cls(**fields)


class Embedder:
    """The input layers, shared by training (a window) and export's one-step signature."""

    def __init__(self, config: ModelConfig, model: keras.Model | None = None) -> None:
        """New layers, or with ``model`` the ones of a built network."""
        self.config = config
        if model is not None:
            self.tokens = model.get_layer("token_embedding")
            self.mood = model.get_layer("mood_embedding")
            self.position = model.get_layer("position_embedding") if config.melody_inputs else None
            return
        self.tokens = layers.Embedding(config.vocab_size, config.embedding, name="token_embedding")
        self.mood = layers.Embedding(config.n_moods, config.mood_embedding, name="mood_embedding")
        self.position = (
            layers.Embedding(
                position_values(config.meters), config.position_embedding, name="position_embedding"
            )
            if config.melody_inputs
            else None
        )

    def __call__(self, tokens, mood, position=None, lookback=None):
        """Features of [batch, steps] (or [batch] for one step) inputs, the mood repeated along steps."""
        import keras.ops as ops

        x = self.tokens(tokens)
        m = self.mood(mood)
        window = len(tokens.shape) == 2
        if window:
            m = ops.repeat(ops.expand_dims(m, 1), tokens.shape[1], axis=1)
        parts = [x]
        if self.position is not None:
            width = len(self.config.lookback) * self.config.embedding
            back = self.tokens(lookback)  # [batch, (steps,) 2, embedding]
            parts += [ops.reshape(back, (-1, tokens.shape[1], width) if window else (-1, width))]
            parts += [self.position(position)]
        return ops.concatenate(parts + [m], axis=-1)


def _inputs(config: ModelConfig) -> dict:
    inputs = {
        contract.TOKENS: keras.Input(shape=(config.window,), dtype="int32", name=contract.TOKENS),
        contract.MOOD: keras.Input(shape=(), dtype="int32", name=contract.MOOD),
    }
    if config.melody_inputs:
        inputs[contract.POSITION] = keras.Input(shape=(config.window,), dtype="int32", name=contract.POSITION)
        width = len(config.lookback)
        lookback = keras.Input(shape=(config.window, width), dtype="int32", name=contract.LOOKBACK)
        inputs[contract.LOOKBACK] = lookback
    return inputs


def build(config: ModelConfig, use_cudnn: bool | str = "auto", unroll: bool = False) -> keras.Model:
    """The network of ``config.arch``.

    Export builds it with ``use_cudnn=False`` so the graph loads on a CPU server, and the BLSTM
    with ``unroll=True``: 32 unrolled steps run about 1.5x faster at batch 1 than a while loop.
    """
    inputs = _inputs(config)
    x = Embedder(config)(**inputs)
    if config.arch == "lstm":
        # return_state lets export run the same layers one step at a time (training ignores it).
        for name in ("lstm_1", "lstm_2"):
            x = layers.LSTM(
                config.units, return_sequences=True, return_state=True, use_cudnn=use_cudnn, name=name
            )(x)[0]
            x = layers.Dropout(config.dropout)(x)
        x = x[:, -config.trained_steps :]
    else:
        lstm = {"use_cudnn": use_cudnn, "unroll": unroll}
        x = layers.Bidirectional(layers.LSTM(config.units, return_sequences=True, **lstm), name="blstm_1")(x)
        x = layers.Dropout(config.dropout)(x)
        x = layers.Bidirectional(layers.LSTM(config.units, **lstm), name="blstm_2")(x)
        x = layers.Dropout(config.dropout)(x)
    # blstm: [batch, vocab] for the next token; lstm: [batch, trained_steps, vocab], each position's next.
    logits = layers.Dense(config.vocab_size, name="logits")(x)
    return keras.Model(inputs=inputs, outputs=logits, name=f"bgm_{config.arch}")


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
