"""The batching parameters file, in TF Serving's text format."""

from __future__ import annotations

import pytest

from model_server import DEFAULT_BATCHING_CONFIG, BatchingParameters


def test_the_production_file_parses():
    parsed = BatchingParameters.from_file(DEFAULT_BATCHING_CONFIG)
    assert (parsed.max_batch_size, parsed.batch_timeout_micros) == (64, 2000)
    assert (parsed.max_enqueued_batches, parsed.num_batch_threads) == (100, 2)


def test_wrapped_and_plain_values_comments_and_lists_parse():
    text = """
        # a comment
        max_batch_size { value: 8 }
        batch_timeout_micros: { value: 5 }
        num_batch_threads <value: 3>
        allowed_batch_sizes: 4
        allowed_batch_sizes: [8]
        pad_variable_length_inputs: true
        thread_pool_name { value: "batch" }
    """
    parsed = BatchingParameters.from_text(text)
    assert (parsed.max_batch_size, parsed.batch_timeout_micros, parsed.num_batch_threads) == (8, 5, 3)
    assert parsed.allowed_batch_sizes == (4, 8)


def test_fields_left_out_take_tf_serving_defaults():
    parsed = BatchingParameters.from_text("max_batch_size { value: 8 }")
    assert (parsed.batch_timeout_micros, parsed.max_enqueued_batches) == (0, 10)


@pytest.mark.parametrize(
    "text",
    [
        "max_batch_sise { value: 8 }",
        "max_batch_size { value: 0 }",
        "max_batch_size { value: }",
        "max_batch_size {",
    ],
)
def test_a_bad_file_is_rejected(text):
    with pytest.raises(ValueError):
        BatchingParameters.from_text(text)
