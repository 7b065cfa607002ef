"""The servicers over real gRPC, called with the tensorflow-serving-api stubs as one calls TF Serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2

from tests.model_server.helpers import AVAILABLE, MODEL, VOCAB, expected_logits, logits

TOKENS = [[1, 2, 3, 4], [0, 0, 1, 0]]
MOOD = [1, 2]


def metadata_request(name: str = MODEL, version: int | None = None, fields=("signature_def",)):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    request.metadata_field.extend(fields)
    return request


def error_of(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_status_lists_the_served_version_as_available(client):
    status = client.status().model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in status] == [(2, AVAILABLE, 0)]
    assert status[0].HasField("status")


def test_status_of_a_named_version(client):
    assert [s.version for s in client.status(version=2).model_version_status] == [2]


def test_status_of_an_unknown_model_is_not_found(client):
    error = error_of(lambda: client.status("nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find any versions of model nope" in error.details()


def test_status_of_an_unknown_version_is_not_found(client):
    error = error_of(lambda: client.status(version=7))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find version 7 of model toy" in error.details()


def test_metadata_returns_the_signature_def_map(client):
    response = client.predictions.GetModelMetadata(metadata_request(), timeout=60)
    assert response.model_spec.name == MODEL and response.model_spec.version.value == 2
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    serving = signatures.signature_def["serving_default"]
    assert serving.method_name == "tensorflow/serving/predict"
    assert serving.inputs["tokens"].dtype == types_pb2.DT_INT32
    assert [d.size for d in serving.inputs["tokens"].tensor_shape.dim] == [-1, 4]
    assert [d.size for d in serving.outputs["logits"].tensor_shape.dim] == [-1, 5]
    assert set(signatures.signature_def["metadata"].outputs) == {"vocab", "window", "version_tag"}


def test_metadata_includes_the_init_op_signature_as_tf_serving_does(client):
    response = client.predictions.GetModelMetadata(metadata_request(), timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["__saved_model_init_op"].method_name == ""


def test_metadata_without_fields_is_invalid(client):
    error = error_of(lambda: client.predictions.GetModelMetadata(metadata_request(fields=()), timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_metadata_of_an_unknown_field_is_invalid(client):
    request = metadata_request(fields=("signature_def", "graph"))
    error = error_of(lambda: client.predictions.GetModelMetadata(request, timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "graph" in error.details()


def test_metadata_of_an_unknown_model_is_not_found(client):
    error = error_of(lambda: client.predictions.GetModelMetadata(metadata_request("nope"), timeout=60))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_predict_uses_the_latest_version_and_fills_model_spec(client):
    response = client.predict(TOKENS, MOOD)
    assert (response.model_spec.name, response.model_spec.version.value) == (MODEL, 2)
    assert response.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(logits(response), expected_logits(TOKENS, MOOD, 2))


def test_predict_outputs_are_raw_bytes_in_tensor_content(client):
    """As TF Serving answers with AS_PROTO_CONTENT: one copy of the floats, not one varint each."""
    output = client.predict(TOKENS, MOOD).outputs["logits"]
    assert output.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in output.tensor_shape.dim] == [2, 5]
    assert len(output.tensor_content) == 10 * 4 and len(output.float_val) == 0


def test_predict_outputs_in_typed_fields_as_tf_serving_writes_them_by_default(
    make_server, connect, models_root
):
    client = connect(make_server(models_root, tensor_content=False))
    output = client.predict(TOKENS, MOOD).outputs["logits"]
    assert [d.size for d in output.tensor_shape.dim] == [2, 5]
    assert output.tensor_content == b"" and len(output.float_val) == 10
    np.testing.assert_allclose(tf.make_ndarray(output), expected_logits(TOKENS, MOOD, 2))


def test_predict_accepts_inputs_in_typed_fields(client):
    request = client.request(TOKENS, MOOD)
    request.inputs["mood"].Clear()
    request.inputs["mood"].dtype = types_pb2.DT_INT32
    request.inputs["mood"].tensor_shape.dim.add(size=2)
    request.inputs["mood"].int_val.extend(MOOD)
    np.testing.assert_allclose(logits(client.send(request)), expected_logits(TOKENS, MOOD, 2))


def test_predict_of_a_named_version_that_is_not_served_is_not_found(client):
    error = error_of(lambda: client.predict(TOKENS, MOOD, version=1))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "Specific(toy, 1)" in error.details()


def test_predict_of_the_served_version_by_number(client):
    assert client.predict(TOKENS, MOOD, version=2).model_spec.version.value == 2


def test_predict_of_an_unknown_model_is_not_found(client):
    error = error_of(lambda: client.predict(TOKENS, MOOD, name="nope"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_predict_with_an_unknown_version_label_is_invalid_as_in_tf_serving(client):
    error = error_of(lambda: client.predict(TOKENS, MOOD, version_label="stable"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Unrecognized servable version label: stable" in error.details()


def test_predict_with_an_unknown_signature_fails_precondition(client):
    error = error_of(lambda: client.predict(TOKENS, MOOD, signature_name="nope"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert 'Serving signature key "nope" not found.' in error.details()


def test_predict_of_a_signature_that_is_not_for_prediction_is_internal(client):
    error = error_of(lambda: client.predict(TOKENS, MOOD, signature_name="__saved_model_init_op"))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "method_name" in error.details()


def test_predict_without_model_spec_is_invalid(client):
    error = error_of(lambda: client.send(predict_pb2.PredictRequest()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_predict_with_a_missing_input_names_it(client):
    request = client.request(TOKENS, MOOD)
    del request.inputs["mood"]
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing but required: {mood}" in error.details()


def test_predict_with_an_extra_input_names_it(client):
    request = client.request(TOKENS, MOOD)
    request.inputs["tempo"].CopyFrom(tf.make_tensor_proto(np.zeros([2], np.int32)))
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Sent extra: {tempo}" in error.details()


def test_predict_with_a_misnamed_input_names_it(client):
    request = client.request(TOKENS, MOOD)
    request.inputs["moods"].CopyFrom(request.inputs["mood"])
    del request.inputs["mood"]
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "moods" in error.details()


def test_predict_with_a_wrong_dtype_is_invalid(client):
    request = client.request(TOKENS, MOOD)
    request.inputs["tokens"].CopyFrom(tf.make_tensor_proto(np.asarray(TOKENS, np.int64)))
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tokens" in error.details() and "int64" in error.details()


def test_predict_with_a_wrong_shape_is_invalid(client):
    error = error_of(lambda: client.predict([[1, 2, 3]], [0]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tokens" in error.details() and "[1,3]" in error.details()


def test_predict_with_an_unparsable_tensor_is_invalid(client):
    request = client.request(TOKENS, MOOD)
    request.inputs["mood"].tensor_content = b"\x00" * 5
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tensor parsing error: mood" in error.details()


def test_predict_honours_output_filter(client):
    request = client.request(TOKENS, MOOD, signature_name="metadata")
    request.inputs.clear()
    request.inputs["dummy"].CopyFrom(tf.make_tensor_proto(np.zeros([1], np.int32)))
    request.output_filter.append("window")
    assert set(client.send(request).outputs) == {"window"}


def test_predict_with_an_unknown_output_in_the_filter_is_invalid(client):
    request = client.request(TOKENS, MOOD)
    request.output_filter.append("probs")
    error = error_of(lambda: client.send(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: probs" in error.details()


def test_predict_of_metadata_returns_strings_and_scalars(client):
    request = client.request(TOKENS, MOOD, signature_name="metadata")
    request.inputs.clear()
    request.inputs["dummy"].CopyFrom(tf.make_tensor_proto(np.zeros([1], np.int32)))
    outputs = client.send(request).outputs
    assert outputs["vocab"].dtype == types_pb2.DT_STRING and list(outputs["vocab"].string_val) == VOCAB
    window = outputs["window"]
    assert window.HasField("tensor_shape") and len(window.tensor_shape.dim) == 0
    assert tf.make_ndarray(window) == 4
    assert tf.make_ndarray(outputs["version_tag"]) == 2
