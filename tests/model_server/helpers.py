"""Helpers for the model_server tests: the toy model, publishing, a TF Serving client, waiting.

The model ``toy`` follows the bgm contract in miniature: ``serving_default`` takes ``tokens`` int32
[batch, 4] and ``mood`` int32 [batch] and returns ``logits`` float32 [batch, 5] =
``version * sum(tokens) + mood + [0..4]``, so versions answer differently; ``metadata`` takes a dummy
int32 [batch] and returns a string vector and scalars.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

MODEL = "toy"
VOCAB = [b"rest", b"C4", b"E4"]
TIMEOUT = 60.0  # generous: the test machine has 2 busy cores
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


class Toy(tf.Module):
    def __init__(self, version: int, fail_warmup: bool = False) -> None:
        super().__init__()
        self.scale = tf.Variable(float(version))
        self.tag = version
        self.fail_warmup = fail_warmup

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 4], tf.int32, name="tokens"),
            tf.TensorSpec([None], tf.int32, name="mood"),
        ]
    )
    def serve(self, tokens, mood):
        if self.fail_warmup:  # all-zero tokens (what warm-up sends) fail at run time
            tf.debugging.assert_positive(tf.reduce_sum(tokens), message="zero tokens rejected")
        total = tf.cast(tf.reduce_sum(tokens, axis=1), tf.float32) * self.scale + tf.cast(mood, tf.float32)
        return {"logits": total[:, None] + tf.range(5, dtype=tf.float32)[None, :]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="dummy")])
    def metadata(self, dummy):
        return {
            "vocab": tf.constant(VOCAB),
            "window": tf.constant(4, tf.int32),
            "version_tag": tf.constant(self.tag, tf.int64),
        }


def save_toy(path: Path, version: int, fail_warmup: bool = False) -> Path:
    toy = Toy(version, fail_warmup)
    tf.saved_model.save(toy, str(path), signatures={"serving_default": toy.serve, "metadata": toy.metadata})
    return path


def expected_logits(tokens, mood, version: int) -> np.ndarray:
    total = np.asarray(tokens).sum(axis=1).astype(np.float32) * version + np.asarray(mood, np.float32)
    return total[:, None] + np.arange(5, dtype=np.float32)[None, :]


def publish(root: Path, source: Path, version: int) -> None:
    """Publish like training does: write beside the versions, then rename into place."""
    tmp = root / MODEL / f".tmp-{version}"
    shutil.copytree(source, tmp)
    tmp.rename(root / MODEL / str(version))


def publish_garbage(root: Path, version: int) -> None:
    tmp = root / MODEL / f".tmp-{version}"
    tmp.mkdir()
    (tmp / "saved_model.pb").write_bytes(b"\x00\xffnot a SavedModel\xff" * 8)
    tmp.rename(root / MODEL / str(version))


class Client:
    """The TF Serving stubs, used exactly as a client of TF Serving uses them."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    @staticmethod
    def request(
        tokens, mood, version: int | None = None, name: str = MODEL, **spec
    ) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        for key, value in spec.items():
            setattr(request.model_spec, key, value)
        if version is not None:
            request.model_spec.version.value = version
        request.inputs["tokens"].CopyFrom(tf.make_tensor_proto(np.asarray(tokens, np.int32)))
        request.inputs["mood"].CopyFrom(tf.make_tensor_proto(np.asarray(mood, np.int32)))
        return request

    def predict(self, tokens, mood, version: int | None = None, **spec) -> predict_pb2.PredictResponse:
        return self.send(self.request(tokens, mood, version, **spec))

    def send(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        return self.predictions.Predict(request, timeout=TIMEOUT)

    def status(
        self, name: str = MODEL, version: int | None = None
    ) -> get_model_status_pb2.GetModelStatusResponse:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        return self.models.GetModelStatus(request, timeout=TIMEOUT)

    def states(self, name: str = MODEL) -> dict[int, int]:
        return {s.version: s.state for s in self.status(name).model_version_status}

    def close(self) -> None:
        self.channel.close()


def logits(response: predict_pb2.PredictResponse) -> np.ndarray:
    return tf.make_ndarray(response.outputs["logits"])


def wait_until(condition: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition") -> object:
    """Poll ``condition`` until truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
