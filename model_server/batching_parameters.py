"""TF Serving's batching parameters file (``--batching_parameters_file``), read as TF Serving reads it.

The file is a text-format ``tensorflow.serving.BatchingParameters`` message. The wheel of
tensorflow-serving-api does not ship that message (``session_bundle_config_pb2``), so its descriptor is
declared here from TF Serving's ``session_bundle_config.proto``, and protobuf's own ``text_format``
parses the file: ``name { value: N }`` wrappers, comments, repeated ``allowed_batch_sizes``. Unknown
fields are errors, as in TF Serving.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

DEFAULT_BATCHING_CONFIG = Path(__file__).with_name("batching.config")
_FIELD = descriptor_pb2.FieldDescriptorProto
# (name, number, type): TF Serving's BatchingParameters; the last four are newer fields this server
# accepts and ignores (numbers matter only on the wire, which a text file never uses).
_FIELDS = (
    ("max_batch_size", 1, ".google.protobuf.Int64Value"),
    ("batch_timeout_micros", 2, ".google.protobuf.Int64Value"),
    ("max_enqueued_batches", 3, ".google.protobuf.Int64Value"),
    ("num_batch_threads", 4, ".google.protobuf.Int64Value"),
    ("thread_pool_name", 5, ".google.protobuf.StringValue"),
    ("allowed_batch_sizes", 6, _FIELD.TYPE_INT64),  # repeated
    ("pad_variable_length_inputs", 7, _FIELD.TYPE_BOOL),
    ("enable_large_batch_splitting", 8, ".google.protobuf.BoolValue"),
    ("max_execution_batch_size", 9, ".google.protobuf.Int64Value"),
    ("batch_padding_policy", 10, ".google.protobuf.StringValue"),
    ("enable_priority_queue", 11, ".google.protobuf.BoolValue"),
)
_INT_FIELDS = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")


@functools.cache
def _message_class():
    """The BatchingParameters message class, in a pool of its own (TensorFlow's is left alone)."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="bgm/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = proto.message_type.add(name="BatchingParameters")
    for name, number, kind in _FIELDS:
        spec = message.field.add(name=name, number=number, label=_FIELD.LABEL_OPTIONAL)
        if isinstance(kind, str):
            spec.type, spec.type_name = _FIELD.TYPE_MESSAGE, kind
        else:
            spec.type = kind
        if name == "allowed_batch_sizes":
            spec.label = _FIELD.LABEL_REPEATED
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters; defaults are TF Serving's for fields the file leaves out."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Accepted for compatibility with TF Serving files; padding to fixed sizes buys nothing on this server.
    allowed_batch_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"batching parameter {name} must be at least 1")
        if self.batch_timeout_micros < 0:
            raise ValueError("batching parameter batch_timeout_micros must not be negative")
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise ValueError("allowed_batch_sizes must increase and end with max_batch_size")

    @classmethod
    def from_text(cls, text: str) -> BatchingParameters:
        """Parse the text-format protobuf TF Serving reads with ``--batching_parameters_file``."""
        message = _message_class()()
        try:
            text_format.Parse(text, message)
        except text_format.ParseError as error:
            raise ValueError(f"cannot parse batching parameters: {error}") from None
        values: dict = {name: getattr(message, name).value for name in _INT_FIELDS if message.HasField(name)}
        if message.allowed_batch_sizes:
            values["allowed_batch_sizes"] = tuple(message.allowed_batch_sizes)
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> BatchingParameters:
        return cls.from_text(Path(path).read_text())
