"""TensorProto <-> numpy, written the way TF Serving writes Predict outputs.

TF Serving serialises outputs with ``Tensor::AsProtoField`` by default: every value in the typed
repeated field of its dtype (``float_val``, ``int_val``...); a servable configured with
``AS_PROTO_CONTENT`` uses ``Tensor::AsProtoTensorContent`` instead: the values' raw little-endian
bytes in ``tensor_content`` (predict_util.cc, PredictResponseTensorSerializationOption). Strings stay
in ``string_val`` either way here. ``tensor_shape`` is always set, even for a scalar (present, with
no dims).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# Which repeated field AsProtoField fills for each dtype (tensorflow/core/framework/tensor.cc).
_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
}


def _little_endian(dtype: tf.DType) -> np.dtype:
    return np.dtype(dtype.as_numpy_dtype).newbyteorder("<")


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a request's TensorProto holds (tensor_content or typed fields); raises ValueError if bad."""
    try:
        return np.asarray(tf.make_ndarray(proto))
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(str(error)) from error


def to_tensor_proto(value: np.ndarray, dtype: tf.DType, *, content: bool = False) -> tensor_pb2.TensorProto:
    """A TensorProto of ``value``: its values in the typed ``*_val`` field of ``dtype``, or with
    ``content`` (numbers only) as raw bytes in ``tensor_content``."""
    enum = dtype.as_datatype_enum
    field = _FIELD.get(enum)
    if field is None:
        raise ValueError(f"outputs of dtype {dtype.name} cannot be returned in a TensorProto")
    array = np.asarray(value)
    proto = tensor_pb2.TensorProto(dtype=enum)
    proto.tensor_shape.SetInParent()  # a scalar still carries an (empty) shape, as in TF Serving
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if content and enum != types_pb2.DT_STRING:
        proto.tensor_content = array.astype(dtype.as_numpy_dtype).astype(_little_endian(dtype)).tobytes()
        return proto
    flat = array.reshape(-1)
    if enum == types_pb2.DT_STRING:
        getattr(proto, field).extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    elif field == "half_val":
        # Half floats travel as their 16 raw bits, widened to int32.
        getattr(proto, field).extend(flat.view(np.uint16).astype(np.int32).tolist())
    elif field in ("scomplex_val", "dcomplex_val"):
        getattr(proto, field).extend(np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto
