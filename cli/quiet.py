"""Dependencies' noise kept out of a command's output, unless ``--verbose``.

TensorFlow's C++ side writes to stderr while it loads (oneDNN, CUDA stubs, CPU features, and on a
host without a GPU ``failed call to cuInit``), through absl before anyone calls
``absl::InitializeLog``, so no environment variable reaches those lines; gRPC's core logs as well.
So: the variables for what honours them (``TF_CPP_MIN_LOG_LEVEL``, ``GRPC_VERBOSITY``; child
processes inherit them), and the stderr file descriptor itself pointed at /dev/null while
TensorFlow loads (or, for a short command, while it runs).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}


def quiet_environment() -> None:
    """Ask TensorFlow and gRPC (here and in child processes) for errors only, unless already set."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@contextlib.contextmanager
def silenced_stderr(enabled: bool = True) -> Iterator[None]:
    """File descriptor 2 (C++ libraries write there directly) and Python's warnings go nowhere."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
