"""One loaded SavedModel version: its signatures, warm-up, TF calls, and draining before unload."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from bgm import contract
from model_server.errors import ServingError, from_exception

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
# TF Serving's Predict runs only signatures of these methods (predict_util.cc, VerifySignature).
_PREDICT_METHODS = ("tensorflow/serving/predict", "tensorflow/serving/classify", "tensorflow/serving/regress")


class CallCounter:
    """How many TF calls each (model, version) has made, so tests can see requests being merged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, int]] = Counter()

    def add(self, name: str, version: int) -> None:
        with self._lock:
            self._counts[(name, version)] += 1

    def get(self, name: str, version: int | None = None) -> int:
        with self._lock:
            return sum(n for (m, v), n in self._counts.items() if m == name and version in (None, v))


@dataclass(frozen=True)
class Signature:
    """A callable signature and what its requests must look like."""

    name: str
    function: Callable
    inputs: dict[str, tf.TensorSpec]
    output_dtypes: dict[str, tf.DType]
    # Every input and output has a leading batch dim of unknown size, so calls can be concatenated.
    mergeable: bool


def _batched(shape: tf.TensorShape) -> bool:
    return shape.rank is not None and shape.rank >= 1 and shape[0] is None


def _signature(name: str, function) -> Signature:
    inputs = dict(function.structured_input_signature[1])
    outputs = function.structured_outputs
    mergeable = bool(inputs) and all(_batched(spec.shape) for spec in [*inputs.values(), *outputs.values()])
    return Signature(name, function, inputs, {k: v.dtype for k, v in outputs.items()}, mergeable)


def _read_signature_defs(path: Path) -> get_model_metadata_pb2.SignatureDefMap:
    """The serve MetaGraph's SignatureDefs exactly as stored (TF Serving's metadata returns these)."""
    pb = path / "saved_model.pb"
    if not pb.is_file():
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"SavedModel file does not exist at: {pb}")
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(pb.read_bytes())
    except DecodeError as error:
        raise ServingError(grpc.StatusCode.DATA_LOSS, f"Can't parse {pb} as binary proto: {error}") from error
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return get_model_metadata_pb2.SignatureDefMap(signature_def=meta_graph.signature_def)
    raise ServingError(
        grpc.StatusCode.NOT_FOUND, f"Could not find meta graph def matching supplied tags: {{ {SERVE_TAG} }}"
    )


def warmup_inputs(signature: Signature) -> dict[str, np.ndarray]:
    """Zeros (empty strings, False) of a valid shape for each input; unknown dims become 1."""
    inputs = {}
    for key, spec in signature.inputs.items():
        shape = [1 if d is None else d for d in spec.shape] if spec.shape.rank is not None else [1]
        if spec.dtype == tf.string:
            inputs[key] = np.full(shape, b"", dtype=object)
        else:
            inputs[key] = np.zeros(shape, dtype=spec.dtype.as_numpy_dtype)
    return inputs


class Servable:
    """A loaded, warmed-up version. Requests hold a reference; a retired version unloads when drained."""

    def __init__(self, name: str, version: int, path: Path, counter: CallCounter) -> None:
        self.name, self.version, self.path = name, version, path
        self.signature_defs = _read_signature_defs(path)
        try:
            self._module = tf.saved_model.load(str(path), tags=[SERVE_TAG])
        except Exception as error:
            raise from_exception(error) from error
        self._signatures = {k: _signature(k, f) for k, f in self._module.signatures.items()}
        self._counter = counter
        self._lock = threading.Lock()
        self._refs = 0
        self._retired = False
        self._on_unloaded: Callable[[], None] | None = None

    def warm_up(self) -> None:
        """Call every signature once so the first real request pays no tracing or allocation cost."""
        for signature in self._signatures.values():
            try:
                self.run(signature, warmup_inputs(signature), count=False)
            except Exception as error:
                failure = from_exception(error)
                raise ServingError(
                    failure.code, f"warm-up of signature '{signature.name}' failed: {failure.message}"
                ) from error

    def contract_problems(self) -> list[str]:
        """How this version breaks the bgm model contract (``bgm.contract``); [] when it follows it."""
        return contract.problems(
            {name: (set(sig.inputs), set(sig.output_dtypes)) for name, sig in self._signatures.items()}
        )

    def signature(self, name: str) -> Signature:
        """The named signature, or TF Serving's error for a missing or non-predict one."""
        found = self._signatures.get(name)
        if found is not None:
            return found
        sig_def = self.signature_defs.signature_def.get(name)
        if sig_def is not None and sig_def.method_name not in _PREDICT_METHODS:
            raise ServingError(
                grpc.StatusCode.INTERNAL,
                "Expected prediction signature method_name to be one of {"
                + ", ".join(_PREDICT_METHODS)
                + f"}}. Was: {sig_def.method_name}",
            )
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')

    def run(
        self, signature: Signature, inputs: dict[str, np.ndarray], count: bool = True
    ) -> dict[str, np.ndarray]:
        """One TF call of ``signature``; string outputs come back as object arrays of bytes."""
        if count:
            self._counter.add(self.name, self.version)
        tensors = {k: tf.convert_to_tensor(v, dtype=signature.inputs[k].dtype) for k, v in inputs.items()}
        outputs = signature.function(**tensors)
        return {
            k: np.asarray(t.numpy(), dtype=object if t.dtype == tf.string else None)
            for k, t in outputs.items()
        }

    # Lifecycle: the repository acquires under its lock, so nothing can acquire after retire().
    def acquire(self) -> bool:
        with self._lock:
            if self._retired:
                return False
            self._refs += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._refs -= 1
            drained = self._retired and self._refs == 0
        if drained:
            self._unload()

    def retire(self, on_unloaded: Callable[[], None]) -> None:
        """Stop taking new requests; unload (and call ``on_unloaded``) once in-flight ones finish."""
        with self._lock:
            self._retired = True
            self._on_unloaded = on_unloaded
            drained = self._refs == 0
        if drained:
            self._unload()

    def _unload(self) -> None:
        # Dropping the last references lets TF free the variables and functions.
        self._module = None
        self._signatures = {}
        callback, self._on_unloaded = self._on_unloaded, None
        if callback is not None:
            callback()
