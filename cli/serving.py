"""The model server a command talks to: the one named (``--server``, ``BGM_SERVER``), else an embedded
server on the models folder for as long as the command runs. ``bgm compose`` and ``bgm bot`` both
come here; ``model_server.local_server`` is imported only then (it loads TensorFlow)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cli.quiet import silenced_stderr


@contextlib.contextmanager
def model_server(
    target: str | None, models_dir: Path, model_name: str, *, quiet: bool, only_label: str | None = None
) -> Iterator[str]:
    """The address to use; TensorFlow's start-up noise silenced when ``quiet``. ``only_label``: an
    embedded server serves only the version that label names (see ``local_server``)."""
    if target:
        yield target
        return
    with contextlib.ExitStack() as stack:
        with silenced_stderr(quiet):
            from model_server import local_server

            address = stack.enter_context(local_server(models_dir, model_name, only_label=only_label))
        yield address
