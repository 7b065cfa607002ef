"""The model server client: TF Serving's gRPC API over ``grpc.aio``, speaking ``bgm.contract``.

Works the same against TensorFlow Serving and the embedded server. Every
call has a deadline; UNAVAILABLE (server down or restarting) is retried with
backoff until the call's budget is spent, then reported as
``ServerUnavailable``. Model metadata is read once per version and cached.

With a ``version_label`` (the bot's: ``stable``), the metadata call that starts a song asks for the
version that label names (``model_spec.version_label``); every later call of the song names that
version's number, so a song finishes on the version it started with however the label moves. A
server with no labels configured (TF Serving answers INVALID_ARGUMENT "Unrecognized servable version
label") is asked for its latest version instead, as before labels existed.

Several replicas (TF Serving behind one DNS name, ``dns:///model-server:8500``, or a list,
``ipv4:10.0.0.1:8500,10.0.0.2:8500``) are balanced call by call with gRPC's ``round_robin`` policy.
A call that fails with UNAVAILABLE is retried by gRPC itself on the next replica (the service
config's retry policy), then by ``_call``'s backoff loop, and a replica that went away drops out of
the rotation until it answers again. A song is pinned to the version number its metadata call
resolved; a replica that does not (yet) serve that version answers NOT_FOUND, and the call goes to
the next replica before the song is told its model changed.
"""

from __future__ import annotations

import asyncio
import json
import logging

import grpc
import numpy as np

from bgm import contract
from bgm.contract import ModelInfo
from composer.errors import ModelChanged, ModelError, ServerUnavailable
from composer.wire import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    to_array,
    to_proto,
)

__all__ = ["CHANNEL_OPTIONS", "ModelClient", "ModelInfo"]
log = logging.getLogger(__name__)
UNKNOWN_LABEL = "Unrecognized servable version label"

Inputs = dict[str, np.ndarray]

# Every replica behind the target, in turn; an UNAVAILABLE answer (a replica killed or restarting) is
# tried again at once on the next one, before the call's own deadline and our backoff loop come in.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [
                {"service": "tensorflow.serving.PredictionService"},
                {"service": "tensorflow.serving.ModelService"},
            ],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}
# A pinned version missing on one replica (it has not loaded it yet, or dropped it first) is asked of
# this many replicas in turn before the song is told its version is gone.
REPLICA_TRIES = 4
# gRPC waits up to 120 s (growing by 1.6x from 1 s) between reconnection attempts to a server that went
# away; a restarted model server should be used within a second or two of coming back, not minutes.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
]


class _UnknownLabel(ModelError):
    """The server has no such version label (none configured, or not this one)."""


class ModelClient:
    """Predict and metadata calls for one model on one server."""

    def __init__(
        self,
        target: str,
        model: str = "bgm",
        *,
        deadline: float = 10.0,
        retry_for: float = 15.0,
        version_label: str | None = None,
    ) -> None:
        """``version_label``: the label new songs start on (None: the latest version)."""
        self.target, self.model = target, model
        self.deadline, self.retry_for = deadline, retry_for
        self.version_label = version_label or None
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._info: dict[int, ModelInfo] = {}

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method, request, version: int | None = None):
        """``method(request)`` with a deadline, retrying UNAVAILABLE with backoff."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.retry_for
        delay, missing = 0.1, 0
        while True:
            try:
                return await method(request, timeout=self.deadline)
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code == grpc.StatusCode.NOT_FOUND and version is not None:
                    missing += 1
                    if missing >= REPLICA_TRIES:
                        raise ModelChanged(version) from None
                    continue  # round_robin: the next call goes to the next replica
                if code == grpc.StatusCode.INVALID_ARGUMENT and UNKNOWN_LABEL in (error.details() or ""):
                    raise _UnknownLabel(error.details()) from None
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise ModelError(f"The model server refused the request: {error.details()}") from None
                if loop.time() + delay > give_up:
                    raise ServerUnavailable(self.target, error.details() or "") from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def metadata(self, version: int | None = None) -> ModelInfo:
        """Metadata of ``version``, else of the labelled version, else the latest's; cached per version."""
        if version is not None and version in self._info:
            return self._info[version]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = contract.METADATA_SIGNATURE
        if version is not None:
            request.model_spec.version.value = version
        elif self.version_label:
            request.model_spec.version_label = self.version_label
        request.inputs[contract.DUMMY].CopyFrom(to_proto(np.zeros([1], np.int32)))
        try:
            reply = await self._call(self._predict.Predict, request)
        except _UnknownLabel:
            log.info("%s has no version label %r: using its latest version", self.target, self.version_label)
            request.model_spec.ClearField("version_label")
            reply = await self._call(self._predict.Predict, request)
        served = reply.model_spec.version.value
        if served not in self._info:
            try:
                outputs = {k: to_array(v) for k, v in reply.outputs.items()}
                self._info[served] = ModelInfo.from_metadata(served, outputs)
            except ValueError as error:
                raise ModelError(f"Model version {served} has no usable metadata ({error}).") from None
        return self._info[served]

    async def predict(
        self, version: int, signature: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        """``outputs`` of one Predict on ``version``, pinned so a song never mixes versions."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.version.value = version
        request.model_spec.signature_name = signature
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(to_proto(value))
        request.output_filter.extend(outputs)
        reply = await self._call(self._predict.Predict, request, version=version)
        try:
            return {key: to_array(reply.outputs[key]) for key in outputs}
        except (KeyError, ValueError) as error:
            raise ModelError(f"Model version {version} sent an unusable reply ({error}).") from None

    async def logits(
        self, version: int, tokens: np.ndarray, moods: np.ndarray, melody: Inputs | None = None
    ) -> np.ndarray:
        """float32 [rows, vocab] next-token logits after each row's window of ``tokens``
        (``melody``: the position and lookback inputs of a melody network)."""
        inputs = {contract.TOKENS: tokens.astype(np.int32), contract.MOOD: moods.astype(np.int32)}
        inputs |= melody or {}
        outputs = await self.predict(version, contract.WINDOW_SIGNATURE, inputs, (contract.LOGITS,))
        return outputs[contract.LOGITS]

    async def start(
        self, version: int, tokens: np.ndarray, moods: np.ndarray, melody: Inputs | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits and carried state after each row's window (models with ``state_size``)."""
        inputs = {contract.TOKENS: tokens.astype(np.int32), contract.MOOD: moods.astype(np.int32)}
        inputs |= melody or {}
        out = await self.predict(
            version, contract.WINDOW_SIGNATURE, inputs, (contract.LOGITS, contract.STATE)
        )
        return out[contract.LOGITS], out[contract.STATE]

    async def step(
        self,
        version: int,
        tokens: np.ndarray,
        moods: np.ndarray,
        state: np.ndarray,
        melody: Inputs | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits and state one token on: ``tokens`` [rows] fed after ``state`` [rows, state_size]."""
        inputs = {
            contract.TOKEN: tokens.astype(np.int32),
            contract.MOOD: moods.astype(np.int32),
            contract.STATE: state,
        }
        inputs |= melody or {}
        out = await self.predict(version, contract.STEP_SIGNATURE, inputs, (contract.LOGITS, contract.STATE))
        return out[contract.LOGITS], out[contract.STATE]

    async def versions(self) -> dict[int, str]:
        """Each version the server knows and its state name (e.g. ``{3: "AVAILABLE"}``)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model
        reply = await self._call(self._models.GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        return {s.version: states.Name(s.state) for s in reply.model_version_status}

    async def failed_versions(self) -> dict[int, str]:
        """Versions the server tried and could not load, with its reason (TF Serving: END and an error)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model
        reply = await self._call(self._models.GetModelStatus, request)
        end = get_model_status_pb2.ModelVersionStatus.State.END
        return {
            s.version: s.status.error_message or "it failed to load"
            for s in reply.model_version_status
            if s.state == end and s.status.error_code != 0
        }
