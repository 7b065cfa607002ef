"""Outputs as TF Serving writes them: typed *_val fields (or raw tensor_content) with dtype and shape;
inputs in either form."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from model_server.tensors import to_ndarray, to_tensor_proto


@pytest.mark.parametrize(
    ("value", "dtype", "field"),
    [
        (np.array([[1.5, 2.0]], np.float32), tf.float32, "float_val"),
        (np.array([1.5], np.float64), tf.float64, "double_val"),
        (np.array([1, -2], np.int32), tf.int32, "int_val"),
        (np.array([7], np.uint8), tf.uint8, "int_val"),
        (np.array([2**40], np.int64), tf.int64, "int64_val"),
        (np.array([True, False]), tf.bool, "bool_val"),
        (np.array([0.5], np.float16), tf.float16, "half_val"),
        (np.array([1 + 2j], np.complex64), tf.complex64, "scomplex_val"),
    ],
)
def test_each_dtype_fills_its_typed_field_and_round_trips(value, dtype, field):
    proto = to_tensor_proto(value, dtype)
    assert proto.dtype == dtype.as_datatype_enum and proto.tensor_content == b""
    assert len(getattr(proto, field)) > 0
    assert [d.size for d in proto.tensor_shape.dim] == list(value.shape)
    np.testing.assert_array_equal(tf.make_ndarray(proto), value)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (np.array([[1.5, -2.0], [3.25, 0.0]], np.float32), tf.float32),
        (np.array([1.5], np.float64), tf.float64),
        (np.array([1, -2], np.int32), tf.int32),
        (np.array([2**40], np.int64), tf.int64),
        (np.array([True, False]), tf.bool),
        (np.asarray(np.int32(4)), tf.int32),
    ],
)
def test_numbers_as_tensor_content_are_their_raw_bytes_and_round_trip(value, dtype):
    proto = to_tensor_proto(value, dtype, content=True)
    assert proto.dtype == dtype.as_datatype_enum and len(proto.tensor_content) == value.nbytes
    assert [d.size for d in proto.tensor_shape.dim] == list(value.shape) and proto.HasField("tensor_shape")
    np.testing.assert_array_equal(tf.make_ndarray(proto), value)


def test_strings_stay_in_string_val_when_numbers_go_to_tensor_content():
    proto = to_tensor_proto(np.array([b"C4"], dtype=object), tf.string, content=True)
    assert proto.tensor_content == b"" and list(proto.string_val) == [b"C4"]


def test_strings_go_to_string_val_as_bytes():
    proto = to_tensor_proto(np.array([b"C4", "é".encode()], dtype=object), tf.string)
    assert proto.dtype == types_pb2.DT_STRING and list(proto.string_val) == [b"C4", "é".encode()]


def test_a_scalar_has_a_shape_with_no_dims():
    proto = to_tensor_proto(np.asarray(np.int32(4)), tf.int32)
    assert proto.HasField("tensor_shape") and len(proto.tensor_shape.dim) == 0
    assert list(proto.int_val) == [4]


def test_an_empty_batch_keeps_its_shape():
    proto = to_tensor_proto(np.zeros([0, 5], np.float32), tf.float32)
    assert [d.size for d in proto.tensor_shape.dim] == [0, 5] and len(proto.float_val) == 0


def test_inputs_are_read_from_tensor_content():
    value = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(to_ndarray(tf.make_tensor_proto(value)), value)


def test_an_unreadable_input_raises_value_error():
    proto = tf.make_tensor_proto(np.zeros([2], np.int32))
    proto.tensor_content = b"\x00" * 5
    with pytest.raises(ValueError):
        to_ndarray(proto)
