"""The client's TensorProto codec agrees with TensorFlow's, and the client never loads TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from composer.wire import to_array, to_proto
from model_server.tensors import to_tensor_proto


@pytest.mark.parametrize(
    "array",
    [np.arange(12, dtype=np.int32).reshape(3, 4), np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)],
)
def test_inputs_read_back_by_tensorflow_as_they_were_sent(array):
    np.testing.assert_array_equal(tf.make_ndarray(to_proto(array)), array)


def test_other_input_dtypes_are_refused():
    with pytest.raises(TypeError, match="int32 or float32"):
        to_proto(np.zeros(3, np.float64))


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).normal(size=(3, 7)).astype(np.float32),
        np.arange(6, dtype=np.int32).reshape(1, 6),
        np.array([[b"a", b"bc"]], dtype=object),
        np.array(5, dtype=np.int32),
    ],
)
def test_outputs_in_typed_fields_as_tf_serving_writes_them(array):
    got = to_array(to_tensor_proto(array, tf.as_dtype(array.dtype) if array.dtype != object else tf.string))
    assert got.shape == array.shape
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("content", [False, True], ids=["typed fields", "tensor_content"])
def test_outputs_as_the_embedded_server_writes_them_either_way(content):
    logits = np.random.default_rng(1).normal(size=(3, 3463)).astype(np.float32)
    got = to_array(to_tensor_proto(logits, tf.float32, content=content))
    assert got.dtype == np.float32 and got.flags.writeable
    np.testing.assert_array_equal(got, logits)


def test_outputs_in_tensor_content_and_the_short_form():
    array = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(to_array(tf.make_tensor_proto(array)), array)
    np.testing.assert_array_equal(to_array(tf.make_tensor_proto(7.0, shape=[2, 2])), np.full((2, 2), 7.0))


def test_a_short_reply_is_an_error_not_garbage():
    proto = to_tensor_proto(np.zeros(4, np.float32), tf.float32)
    proto.tensor_shape.dim[0].size = 2
    with pytest.raises(ValueError, match="do not fill"):
        to_array(proto)


def test_the_client_loads_no_tensorflow_runtime_yet_tensorflow_still_loads_after_it():
    code = (
        "import sys\n"
        "import composer.client\n"
        "print('tensorflow' in sys.modules, 'tensorflow.python' in sys.modules)\n"
        "import tensorflow as tf\n"
        "from composer.wire import to_proto\n"
        "import numpy as np\n"
        "print(tf.make_ndarray(to_proto(np.arange(3, dtype=np.int32))).tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["False False", "[0, 1, 2]"]
