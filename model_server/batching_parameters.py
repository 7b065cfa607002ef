"""TF Serving's batching parameters file (``--batching_parameters_file``), read without TF Serving.

The wheel of tensorflow-serving-api does not ship ``session_bundle_config_pb2`` (BatchingParameters),
so this reads the small text-format protobuf itself: ``name { value: N }`` wrappers (also ``name: N``),
``#`` comments, and repeated ``allowed_batch_sizes``. Unknown fields are errors, as in TF Serving.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BATCHING_CONFIG = Path(__file__).with_name("batching.config")


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
        values: dict = {}
        tokens = _tokens(text)
        for name in tokens:
            if name not in _INT_FIELDS and name not in _IGNORED_FIELDS and name != "allowed_batch_sizes":
                raise ValueError(f"unknown batching parameter {name!r}")
            value = _value(tokens)
            if name == "allowed_batch_sizes":
                values.setdefault(name, []).extend(value if isinstance(value, list) else [value])
            elif name in _INT_FIELDS:
                values[name] = int(value)
        if "allowed_batch_sizes" in values:
            values["allowed_batch_sizes"] = tuple(int(v) for v in values["allowed_batch_sizes"])
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> BatchingParameters:
        return cls.from_text(Path(path).read_text())


_INT_FIELDS = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
# Real BatchingParameters fields this server has no use for; a file that sets them still parses.
_IGNORED_FIELDS = (
    "thread_pool_name",
    "pad_variable_length_inputs",
    "enable_large_batch_splitting",
    "max_execution_batch_size",
    "batch_padding_policy",
    "enable_priority_queue",
)
_TOKEN = re.compile(r'\s+|#[^\n]*|([A-Za-z_]\w*|-?\d+(?:\.\d*)?|"(?:[^"\\]|\\.)*"|[{}:\[\],<>])')


def _tokens(text: str):
    pos, out = 0, []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse batching parameters at: {text[pos : pos + 20]!r}")
        if match.group(1):
            out.append(match.group(1))
        pos = match.end()
    return _Stream(out)


class _Stream:
    def __init__(self, items: list[str]) -> None:
        self.items, self.pos = items, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.items):
            raise StopIteration
        self.pos += 1
        return self.items[self.pos - 1]

    def peek(self) -> str | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> str:
        token = next(self, None)
        if token is None:
            raise ValueError("batching parameters end too early")
        return token


def _value(tokens: _Stream):
    """After a field name: ``: 5``, ``: [1, 2]``, ``{ value: 5 }`` or ``: { value: 5 }`` (wrappers)."""
    if tokens.peek() == ":":
        tokens.take()
    token = tokens.take()
    if token in ("{", "<"):
        closing = "}" if token == "{" else ">"
        if tokens.take() != "value":
            raise ValueError("a wrapped batching parameter must look like { value: N }")
        value = _value(tokens)
        if tokens.take() != closing:
            raise ValueError(f"expected {closing!r} in batching parameters")
        return value
    if token == "[":
        items = []
        while (item := tokens.take()) != "]":
            if item != ",":
                items.append(item)
        return items
    if token in "}]:,>":
        raise ValueError(f"unexpected {token!r} in batching parameters")
    return token
