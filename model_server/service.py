"""The gRPC servicers: tensorflow.serving PredictionService and ModelService, with TF Serving's semantics.

Checks run in TF Serving's order (predict_util.cc, get_model_metadata_impl.cc,
get_model_status_impl.cc) and fail with its status codes and, where it has one, its message, so a
client cannot tell this server from TF Serving by its errors either.
"""

from __future__ import annotations

import logging
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from model_server.batching import Batcher
from model_server.errors import ServingError, from_exception
from model_server.monitoring import ServingMetrics
from model_server.repository import Repository
from model_server.servable import DEFAULT_SIGNATURE, Signature
from model_server.tensors import to_ndarray, to_tensor_proto

log = logging.getLogger(__name__)
SIGNATURE_DEF_FIELD = "signature_def"


def _names(keys) -> str:
    return ",".join(sorted(keys))


def _shape(shape) -> str:
    if isinstance(shape, tf.TensorShape) and shape.rank is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _inputs(signature: Signature, request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    """The request's inputs as arrays, checked against the signature (INVALID_ARGUMENT otherwise)."""
    sent, wanted = set(request.inputs), set(signature.inputs)
    if len(sent) != len(wanted):
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{_names(sent)}}}) != "
            f"len({{{_names(wanted)}}}). Sent extra: {{{_names(sent - wanted)}}}. "
            f"Missing but required: {{{_names(wanted - sent)}}}.",
        )
    arrays = {}
    for alias, proto in request.inputs.items():
        spec = signature.inputs.get(alias)
        if spec is None:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensor alias not found in signature: {alias}. "
                f"Inputs expected to be in the set {{{_names(wanted)}}}.",
            )
        try:
            array = to_ndarray(proto)
        except ValueError as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {alias}") from error
        # Checked here because a signature call would silently cast (int64 -> int32) or accept a wrong shape.
        if proto.dtype != spec.dtype.as_datatype_enum:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensor {alias} has dtype {tf.as_dtype(proto.dtype).name} "
                f"but the signature expects {spec.dtype.name}",
            )
        if not spec.shape.is_compatible_with(array.shape):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input tensor {alias} has shape {_shape(array.shape)} "
                f"but the signature expects {_shape(spec.shape)}",
            )
        arrays[alias] = array
    return arrays


def _output_aliases(signature: Signature, output_filter) -> list[str]:
    aliases = list(output_filter)
    for alias in aliases:
        if alias not in signature.output_dtypes:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} "
                f"Outputs expected to be in the set {{{_names(signature.output_dtypes)}}}.",
            )
    if len(set(aliases)) != len(aliases):
        duplicate = next(a for a in aliases if aliases.count(a) > 1)
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {duplicate}")
    return aliases or list(signature.output_dtypes)


def _abort(context: grpc.ServicerContext, error: BaseException):
    failure = from_exception(error)
    if failure.code == grpc.StatusCode.UNKNOWN:  # not a TF or request error: a bug worth a traceback
        log.error("request failed unexpectedly", exc_info=error)
    context.abort(failure.code, failure.message)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress and MultiInference stay UNIMPLEMENTED."""

    def __init__(
        self,
        repository: Repository,
        batcher: Batcher | None,
        *,
        tensor_content: bool = True,
        metrics: ServingMetrics | None = None,
    ) -> None:
        """``tensor_content``: numeric outputs as raw bytes, as TF Serving does with its servables'
        ``predict_response_tensor_serialization_option: AS_PROTO_CONTENT``: a [3, 3463] float reply
        is one copy instead of 10,389 varint-framed floats to write and read back; False writes the
        typed ``*_val`` fields, TF Serving's default (``AS_PROTO_FIELD``)."""
        self._repository = repository
        self._batcher = batcher
        self._tensor_content = tensor_content
        self.metrics = metrics  # TF Serving's request counts and latencies, when monitoring is on

    def Predict(self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext):  # noqa: N802
        try:
            return self.predict(request)
        except Exception as error:
            _abort(context, error)

    def predict(
        self, request: predict_pb2.PredictRequest, entrypoint: str = "GRPC"
    ) -> predict_pb2.PredictResponse:
        """The response, or a ``ServingError`` (the REST API calls this too, as ``entrypoint`` REST)."""
        if self.metrics is None:
            return self._predict(request)
        began, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            return self._predict(request)
        except Exception as error:
            code = from_exception(error).code
            raise
        finally:
            self.metrics.request(request.model_spec.name, code, entrypoint, time.perf_counter() - began)

    def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        if not request.HasField("model_spec"):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        servable = self._repository.acquire(request.model_spec)
        try:
            name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            signature = servable.signature(name)
            inputs = _inputs(signature, request)
            aliases = _output_aliases(signature, request.output_filter)
            began = time.perf_counter()
            if self._batcher is not None:
                outputs = self._batcher.run(servable, signature, inputs)
            else:
                outputs = servable.run(signature, inputs)
            if self.metrics is not None:
                self.metrics.runtime(servable.name, time.perf_counter() - began)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = name
            for alias in aliases:
                response.outputs[alias].CopyFrom(
                    to_tensor_proto(
                        outputs[alias], signature.output_dtypes[alias], content=self._tensor_content
                    )
                )
            return response
        finally:
            servable.release()

    def GetModelMetadata(self, request, context):  # noqa: N802
        try:
            return self.metadata(request)
        except Exception as error:
            _abort(context, error)

    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
        """The response, or a ``ServingError`` (the REST API calls this too)."""
        if not request.HasField("model_spec"):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        if not request.metadata_field:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "GetModelMetadataRequest must specify at least one metadata_field",
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported"
                )
        servable = self._repository.acquire(request.model_spec)
        try:
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata[SIGNATURE_DEF_FIELD].Pack(servable.signature_defs)
            return response
        finally:
            servable.release()


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest stays UNIMPLEMENTED (the config file is polled instead)."""

    def __init__(self, repository: Repository) -> None:
        self._repository = repository

    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):  # noqa: N802
        try:
            return self.status(request)
        except Exception as error:
            _abort(context, error)

    def status(self, request: get_model_status_pb2.GetModelStatusRequest):
        """The response, or a ``ServingError`` (the REST API calls this too)."""
        if not request.HasField("model_spec"):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        spec = request.model_spec
        # Like TF Serving, a version label is ignored here: only an explicit version narrows the answer.
        version = spec.version.value if spec.HasField("version") else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for number, record in self._repository.version_states(spec.name, version):
            response.model_version_status.add(
                version=number,
                state=record.state,
                status=status_pb2.StatusProto(
                    error_code=record.error_code, error_message=record.error_message
                ),
            )
        return response
