"""SavedModel export: writes the model contract of bgm/contract.py (signatures, inputs, metadata).

Every output is batched along dim 0, so TF Serving's batching, which splits
every output by the requests' batch sizes, can serve them. The causal
network's ``step`` signature runs the same layers one token on from a carried
state; ``verify`` checks that it ends where the window signature ends.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bgm import contract
from bgm.melody import POSITIONS, position_values
from bgm.moods import MOODS
from bgm.tokens import TOKENIZER_VERSION
from training.model import Embedder, ModelConfig, build
from training.vocab import Vocabulary

EXTRA_DIR = "assets.extra/bgm"  # beside the SavedModel: what fine-tuning needs (TF Serving ignores it)


def _tile(value: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    return tf.tile(value[tf.newaxis], tf.concat([[rows], tf.ones(tf.rank(value), tf.int32)], 0))


def export(
    model: keras.Model,
    config: ModelConfig,
    vocab: Vocabulary,
    primers: dict[str, np.ndarray],
    info: dict,
    path: Path,
) -> None:
    """Write a CPU-loadable SavedModel of ``model`` with its signatures, and the Keras files beside it.
    ``primers``: each of ``config.meters``' start windows [moods, primers, window], by meter name."""
    # A graph traced with cuDNN available bakes in CudnnRNN ops a CPU server cannot run.
    portable = build(config, use_cudnn=False, unroll=True)
    portable.set_weights(model.get_weights())

    values = contract.metadata_values(
        vocab=vocab.tokens,
        moods=MOODS,
        window=config.window,
        primers=primers["4/4"],
        meter_primers={meter: primers[meter] for meter in config.meters},
        tokenizer_version=TOKENIZER_VERSION,
        state_size=config.state_size,
        info=info,
        position_period=POSITIONS if config.melody_inputs else 0,
        lookback_steps=config.lookback if config.melody_inputs else (),
    )
    constants = {name: tf.constant(value) for name, value in values.items()}

    archive = keras.export.ExportArchive()
    archive.track(portable)

    def metadata(dummy):
        rows = tf.shape(dummy)[0]
        return {name: _tile(value, rows) for name, value in constants.items()}

    mood_spec = tf.TensorSpec([None], tf.int32, name=contract.MOOD)
    window_specs = [tf.TensorSpec([None, config.window], tf.int32, name=contract.TOKENS), mood_spec]
    step_specs = [tf.TensorSpec([None], tf.int32, name=contract.TOKEN), mood_spec]
    if config.melody_inputs:
        window_specs += [
            tf.TensorSpec([None, config.window], tf.int32, name=contract.POSITION),
            tf.TensorSpec([None, config.window, len(config.lookback)], tf.int32, name=contract.LOOKBACK),
        ]
        step_specs += [
            tf.TensorSpec([None], tf.int32, name=contract.POSITION),
            tf.TensorSpec([None, len(config.lookback)], tf.int32, name=contract.LOOKBACK),
        ]
    if config.arch == "lstm":
        stepper = _Stepper(portable, config)
        archive.add_endpoint(contract.WINDOW_SIGNATURE, stepper.window, input_signature=window_specs)
        step_specs.insert(2, tf.TensorSpec([None, config.state_size], tf.float32, name=contract.STATE))
        archive.add_endpoint(contract.STEP_SIGNATURE, stepper.step, input_signature=step_specs)
    else:

        def serving_default(tokens, mood, position=None, lookback=None):
            inputs = {"tokens": tokens, "mood": mood}
            if config.melody_inputs:
                inputs |= {"position": position, "lookback": lookback}
            return {contract.LOGITS: portable(inputs, training=False)}

        archive.add_endpoint(contract.WINDOW_SIGNATURE, serving_default, input_signature=window_specs)
    dummy_spec = tf.TensorSpec([None], tf.int32, name=contract.DUMMY)
    archive.add_endpoint(contract.METADATA_SIGNATURE, metadata, input_signature=[dummy_spec])
    archive.write_out(str(path), verbose=False)

    extra = path / EXTRA_DIR
    extra.mkdir(parents=True)
    portable.save_weights(extra / "model.weights.h5")
    (extra / "model.json").write_text(
        json.dumps({"config": config.to_dict(), "vocab": list(vocab.tokens), "moods": list(MOODS)})
    )


class _Stepper:
    """The causal network's layers run over a window, or one step on from a carried state."""

    def __init__(self, model: keras.Model, config: ModelConfig) -> None:
        self.embed = Embedder(config, model)
        self.lstms = [model.get_layer("lstm_1"), model.get_layer("lstm_2")]
        self.head = model.get_layer("logits")

    def window(self, tokens, mood, position=None, lookback=None):
        x = self.embed(tokens, mood, position, lookback)
        states = []
        for lstm in self.lstms:
            x, h, c = lstm(x, training=False)
            states += [h, c]
        return {contract.LOGITS: self.head(x[:, -1]), contract.STATE: tf.concat(states, -1)}

    def step(self, token, mood, state, position=None, lookback=None):
        x = self.embed(token, mood, position, lookback)
        h1, c1, h2, c2 = tf.split(state, 4, axis=-1)
        x, (h1, c1) = self.lstms[0].cell(x, [h1, c1], training=False)
        x, (h2, c2) = self.lstms[1].cell(x, [h2, c2], training=False)
        return {contract.LOGITS: self.head(x), contract.STATE: tf.concat([h1, c1, h2, c2], -1)}


def verify(
    path: Path, model: keras.Model, config: ModelConfig, vocab: Vocabulary, primers: dict[str, np.ndarray]
) -> None:
    """Load the export as a server would and check it predicts what ``model`` predicts; raise if not."""
    loaded = tf.saved_model.load(str(path))
    tokens = primers["4/4"].reshape(-1, config.window)[:8]
    mood = np.arange(len(tokens), dtype=np.int32) % len(MOODS)
    inputs = {"tokens": tokens, "mood": mood}
    if config.melody_inputs:
        rng = np.random.default_rng(0)
        inputs["position"] = rng.integers(0, position_values(config.meters), tokens.shape).astype(np.int32)
        looks = (*tokens.shape, len(config.lookback))
        inputs["lookback"] = rng.integers(0, len(vocab), looks).astype(np.int32)
    out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    got = out["logits"]
    want = np.asarray(model(inputs, training=False))
    if config.arch == "lstm":
        want = want[:, -1]
    if got.shape != (len(tokens), len(vocab)) or not np.allclose(got.numpy(), want, atol=1e-4):
        raise RuntimeError("the exported model does not predict what the trained model predicts")
    if config.arch == "lstm":
        # Stepping through the window from a zero state must end where the window pass ends.
        state = tf.zeros([len(tokens), config.state_size])
        for t in range(config.window):
            at_t = {k: tf.constant(inputs[k][:, t]) for k in ("position", "lookback") if k in inputs}
            step = loaded.signatures["step"](
                token=tf.constant(tokens[:, t]), mood=tf.constant(mood), state=state, **at_t
            )
            state = step["state"]
        if not np.allclose(step["logits"].numpy(), want, atol=1e-4):
            raise RuntimeError("the exported model's step signature does not follow its window signature")
    meta = loaded.signatures["metadata"](dummy=tf.constant([0], tf.int32))
    if [t.decode() for t in meta["vocab"].numpy()[0]] != list(vocab.tokens):
        raise RuntimeError("the exported vocabulary differs from the training vocabulary")


def published_primers(path: Path) -> dict[str, np.ndarray]:
    """The start windows of a published version, by meter (a version that does not say: 4/4's)."""
    meta = tf.saved_model.load(str(path)).signatures[contract.METADATA_SIGNATURE](dummy=tf.constant([0]))
    outputs = {name: value.numpy() for name, value in meta.items()}
    info = contract.ModelInfo.from_metadata(0, outputs)
    return {meter: info.primers_for(meter) for meter in info.meters}


def load_keras(path: Path) -> tuple[keras.Model, ModelConfig, Vocabulary]:
    """The trainable model of a published version (Keras cannot load a SavedModel itself)."""
    extra = path / EXTRA_DIR
    data = json.loads((extra / "model.json").read_text())
    if tuple(data["moods"]) != MOODS:
        raise ValueError(f"version at {path} was trained on moods {data['moods']}, not {list(MOODS)}")
    config = ModelConfig.from_dict(data["config"])
    model = build(config)
    model.load_weights(extra / "model.weights.h5")
    return model, config, Vocabulary(tuple(data["vocab"]))
