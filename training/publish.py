"""Atomic version publishing into a TF Serving model folder (``models/bgm/<N>/``).

TF Serving polls the folder and would load a half-written version, so a
version is written to a hidden temporary folder beside the versions, checked,
and only then renamed to the next number; a rename is atomic on one file
system. Any failure removes the temporary folder and leaves the versions as
they were.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".tmp-"


def versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def latest(model_dir: Path) -> Path | None:
    found = versions(model_dir)
    return model_dir / str(found[-1]) if found else None


def publish(model_dir: Path, write: Callable[[Path], None]) -> int:
    """Call ``write(tmp_path)``, then make it version N+1; returns N+1."""
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        write(tmp)
        while True:
            version = (versions(model_dir) or [0])[-1] + 1
            try:
                # os.rename onto an existing folder fails for a non-empty one: another publisher won.
                os.rename(tmp, model_dir / str(version))
                return version
            except OSError:
                if not (model_dir / str(version)).exists():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
