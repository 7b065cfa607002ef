"""The one error type the servicers turn into a gRPC status, and the mapping from TensorFlow's errors."""

from __future__ import annotations

import grpc

# tensorflow.error.Code and grpc.StatusCode share their numbers (both are the canonical codes), which is
# why TF Serving can pass a TensorFlow status straight through as a gRPC status.
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """A request failed with this gRPC status code and message (what the client sees)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status_code(number: int) -> grpc.StatusCode:
    """The gRPC status code for a ``tensorflow.error.Code`` number (UNKNOWN if there is none)."""
    return _BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def from_exception(error: BaseException) -> ServingError:
    """A ServingError that keeps a TensorFlow error's code; anything else becomes UNKNOWN, as in TF."""
    if isinstance(error, ServingError):
        return error
    number = getattr(error, "error_code", None)  # tf.errors.OpError, without importing TF here
    if isinstance(number, int):
        return ServingError(status_code(number), getattr(error, "message", None) or str(error))
    return ServingError(grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}")
