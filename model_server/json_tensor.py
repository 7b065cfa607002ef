"""TF Serving's REST JSON for Predict: requests in the row (``instances``) or columnar (``inputs``)
format to a PredictRequest, and the response's tensors back to JSON in the request's format.

Follows tensorflow_serving/util/json_tensor.cc: the signature's input dtypes decide how JSON values
are read (an int input refuses 1.5; strings are UTF-8 text or ``{"b64": ...}``); in the row format
every instance is an object of the inputs (or a bare value when there is one input) and the response
is ``{"predictions": [...]}`` with one entry per row (an object of the outputs when there are
several); in the columnar format ``{"outputs": ...}`` holds each output whole. Outputs whose name
ends in ``_bytes`` are written as ``{"b64": ...}``, as TF Serving does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from model_server.errors import ServingError
from model_server.tensors import to_ndarray, to_tensor_proto

ROW, COLUMNAR = "row", "columnar"
B64 = "b64"
# alias -> dtype enum of each input of a signature, or ServingError (unknown model or signature)
InputTypes = Callable[[str], Mapping[str, int]]


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and B64 in value


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 200 else text[:200] + "..."


def parse_body(body: bytes) -> dict:
    if not body:
        raise _invalid("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise _invalid(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise _invalid(f"JSON Value: {_short(document)} Is not object")
    return document


def _strings(value, name: str):
    if isinstance(value, list):
        return [_strings(v, name) for v in value]
    if _is_b64(value):
        try:
            return base64.b64decode(value[B64], validate=True)
        except (binascii.Error, TypeError):
            raise _invalid(f"Unable to base64 decode a value of input {name}") from None
    if isinstance(value, str):
        return value.encode()
    raise _invalid(f"Expecting a string value for input {name}, got {_short(value)}")


def _numbers(value, name: str, dtype: tf.DType) -> np.ndarray:
    def check(v):
        if isinstance(v, list):
            for item in v:
                check(item)
        elif isinstance(v, bool):
            if dtype != tf.bool:
                raise _invalid(f"Expecting a number for input {name} of type {dtype.name}, got {v}")
        elif isinstance(v, int | float):
            if dtype == tf.bool:
                raise _invalid(f"Expecting true or false for input {name}, got {v}")
            if dtype.is_integer and (isinstance(v, float) and not (math.isfinite(v) and v.is_integer())):
                raise _invalid(f"Expecting an integer for input {name} of type {dtype.name}, got {v}")
        else:
            raise _invalid(f"Expecting a number for input {name} of type {dtype.name}, got {_short(v)}")

    check(value)
    try:
        array = np.array(value, dtype=dtype.as_numpy_dtype)
    except (ValueError, OverflowError) as error:
        raise _invalid(f"Input {name} is not a tensor of {dtype.name}: {error}") from None
    if dtype.is_integer and array.size and np.any(np.asarray(value, dtype=float) != array):
        raise _invalid(f"A value of input {name} does not fit {dtype.name}")
    return array


def _array(value, name: str, dtype_enum: int) -> np.ndarray:
    dtype = tf.as_dtype(dtype_enum)
    if dtype_enum == types_pb2.DT_STRING:
        try:
            return np.array(_strings(value, name), dtype=object)
        except ValueError as error:
            raise _invalid(f"Input {name} is not a tensor: {error}") from None
    try:
        return _numbers(value, name, dtype)
    except ValueError as error:  # ragged lists
        raise _invalid(f"Input {name} is not a tensor: {error}") from None


def _rows(instances: list, types: Mapping[str, int]) -> dict[str, np.ndarray]:
    names = sorted(types)
    as_objects = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not as_objects and len(types) > 1:
        raise _invalid(
            "instances is a plain list, but expecting list of objects as multiple input tensors required "
            "as per tensorinfo_map"
        )
    columns: dict[str, list] = {name: [] for name in names}
    for i, item in enumerate(instances):
        is_object = isinstance(item, dict) and not _is_b64(item)
        if as_objects:
            if not is_object:
                raise _invalid(f"Expecting object but got list at item {i} of input list")
            if set(item) != set(names):
                raise _invalid(
                    f"Failed to process element: {i} of 'instances' list. JSON object: {_short(item)} "
                    f"keys must be equal to: {','.join(names)}"
                )
            for name in names:
                columns[name].append(item[name])
        else:
            if is_object:
                raise _invalid(f"Expecting value/list but got object at item {i} of input list")
            columns[names[0]].append(item)
    arrays = {}
    for name in names:
        shapes = {np.shape(v) if not isinstance(v, dict) else () for v in columns[name]}
        if len(shapes) > 1:
            first, other = sorted(shapes, key=len)[:2]
            raise _invalid(f"Expecting shape {list(first)} but got: {list(other)} for input {name}")
        arrays[name] = _array(columns[name], name, types[name])
    return arrays


def _columns(inputs, types: Mapping[str, int]) -> dict[str, np.ndarray]:
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(types) > 1:
            raise _invalid(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                "as per tensorinfo_map"
            )
        (name,) = types
        return {name: _array(inputs, name, types[name])}
    arrays = {}
    for name in sorted(types):
        if name not in inputs:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _array(inputs[name], name, types[name])
    return arrays


def predict_request(
    body: bytes, spec: predict_pb2.PredictRequest, input_types: InputTypes
) -> tuple[predict_pb2.PredictRequest, str]:
    """``spec`` (a PredictRequest with its model_spec set from the URL) filled from a JSON body."""
    document = parse_body(body)
    request = predict_pb2.PredictRequest()
    request.CopyFrom(spec)
    if "signature_name" in document:
        if not isinstance(document["signature_name"], str):
            raise _invalid("'signature_name' key must be a string value.")
        request.model_spec.signature_name = document["signature_name"]
    types = input_types(request.model_spec.signature_name)
    if not types:
        raise _invalid(
            f"Failed to get input map for signature: {request.model_spec.signature_name or 'DEFAULT'}"
        )
    if "instances" in document and "inputs" in document:
        raise _invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise _invalid("Excepting 'instances' to be an list/array")
        if not instances:
            raise _invalid("No values in 'instances' array")
        arrays, format_ = _rows(instances, types), ROW
    elif "inputs" in document:
        arrays, format_ = _columns(document["inputs"], types), COLUMNAR
    else:
        raise _invalid("Missing 'inputs' or 'instances' key")
    for name, array in arrays.items():
        try:
            request.inputs[name].CopyFrom(to_tensor_proto(array, tf.as_dtype(types[name])))
        except ValueError as error:
            raise _invalid(f"Input {name}: {error}") from None
    return request, format_


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object:  # strings
        as_bytes = name.endswith("_bytes")

        def text(value: bytes):
            if as_bytes:
                return {B64: base64.b64encode(value).decode()}
            return value.decode("utf-8", errors="replace")

        return np.vectorize(text, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def response_json(response: predict_pb2.PredictResponse, format_: str) -> dict:
    """The JSON TF Serving answers a Predict with, in the request's format."""
    if not response.outputs:
        raise _invalid("Cannot convert empty tensor map to JSON")
    arrays = {name: to_ndarray(response.outputs[name]) for name in sorted(response.outputs)}
    if format_ == COLUMNAR:
        values = {name: _jsonable(name, a) for name, a in arrays.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = None
    for name, array in arrays.items():
        if array.ndim == 0:
            raise _invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise _invalid(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    rows = []
    for i in range(batch):
        row = {
            name: _jsonable(name, np.asarray(array[i], dtype=array.dtype)) for name, array in arrays.items()
        }
        rows.append(next(iter(row.values())) if len(row) == 1 else row)
    return {"predictions": rows}
