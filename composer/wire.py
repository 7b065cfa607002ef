"""TF Serving's messages and stubs, and numpy <-> TensorProto, without loading TensorFlow.

tensorflow-serving-api's generated modules import ``tensorflow.core.framework.*_pb2``: plain
protobuf modules that happen to live inside the tensorflow package. Importing them the usual way
runs ``tensorflow/__init__``, which loads the whole runtime (several seconds and hundreds of MB)
that a client never uses. While they load, a bare package object stands in for ``tensorflow`` so
only the protobuf modules are read; it is removed afterwards, so a later ``import tensorflow``
(the embedded server in the same process) loads the real one and reuses the same protobuf modules.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np


def _load_protos() -> None:
    if "tensorflow" in sys.modules:
        return  # TensorFlow is loaded already: the usual imports cost nothing more
    spec = importlib.util.find_spec("tensorflow")
    stand_in = types.ModuleType("tensorflow")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorflow"] = stand_in
    try:
        import tensorflow_serving.apis.get_model_status_pb2  # noqa: F401
        import tensorflow_serving.apis.model_service_pb2_grpc  # noqa: F401
        import tensorflow_serving.apis.predict_pb2  # noqa: F401
        import tensorflow_serving.apis.prediction_service_pb2_grpc  # noqa: F401
    finally:
        if sys.modules.get("tensorflow") is stand_in:
            del sys.modules["tensorflow"]


_load_protos()

from tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

__all__ = [
    "get_model_status_pb2",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_service_pb2_grpc",
    "to_array",
    "to_proto",
]

# dtype enum -> (numpy dtype, the typed field TF Serving fills when it does not use tensor_content)
_TYPES = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    types_pb2.DT_STRING: (object, "string_val"),
}
_ENUMS = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.int32): types_pb2.DT_INT32}


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """A request input: int32 or float32 values as raw little-endian bytes, as TF's clients send them."""
    array = np.ascontiguousarray(array)
    enum = _ENUMS.get(array.dtype)
    if enum is None:
        raise TypeError(f"inputs are int32 or float32, not {array.dtype}")
    proto = tensor_pb2.TensorProto(
        dtype=enum, tensor_content=array.astype(array.dtype.newbyteorder("<")).tobytes()
    )
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def to_array(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a reply's TensorProto holds, from ``tensor_content`` or the typed ``*_val`` field."""
    if proto.dtype not in _TYPES:
        raise ValueError(f"unexpected output dtype {types_pb2.DataType.Name(proto.dtype)}")
    dtype, field = _TYPES[proto.dtype]
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    size = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content:
        return (
            np.frombuffer(proto.tensor_content, np.dtype(dtype).newbyteorder("<"))
            .astype(dtype)
            .reshape(shape)
        )
    values = getattr(proto, field)
    flat = np.empty(len(values), dtype=object) if dtype is object else np.array(values, dtype=dtype)
    if dtype is object:
        flat[:] = list(values)
    if len(flat) != size:
        if not len(flat) or len(flat) > size:
            raise ValueError(f"{len(flat)} values do not fill a tensor of shape {shape}")
        # TensorFlow's short form: the last value repeats to fill the tensor.
        flat = np.concatenate([flat, np.repeat(flat[-1:], size - len(flat))])
    return flat.reshape(shape)
