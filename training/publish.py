"""Atomic version publishing into a TF Serving model folder (``models/bgm/<N>/``).

TF Serving polls the folder and would load a half-written version, so a
version is written to a hidden temporary folder beside the versions, checked,
and only then renamed to the next number; a rename is atomic on one file
system. Any failure removes the temporary folder and leaves the versions as
they were.

A publisher killed outright (the OOM killer, ``kill -9``) cannot clean up: its
temporary folder is named after its process id, and the next publish removes
every temporary folder whose writer is no longer running. The server never
sees them either way (it ignores names that are not numbers).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".tmp-"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
STALE_S = 24 * 3600  # a temporary folder without a process id in its name (an older publisher's)


def versions(model_dir: Path) -> list[int]:
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def latest(model_dir: Path) -> Path | None:
    found = versions(model_dir)
    return model_dir / str(found[-1]) if found else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def sweep(model_dir: Path) -> list[Path]:
    """Remove the temporary folders of publishers that died mid-write; the ones removed."""
    removed = []
    if not model_dir.is_dir():
        return removed
    for path in model_dir.iterdir():
        if not (path.name.startswith(TMP_PREFIX) and path.is_dir()):
            continue
        owner, named, _ = path.name[len(TMP_PREFIX) :].partition("-")
        if named and owner.isdigit():
            dead = not _running(int(owner))
        else:
            try:
                dead = time.time() - path.stat().st_mtime > STALE_S
            except OSError:
                continue
        if dead:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def publish(model_dir: Path, write: Callable[[Path], None]) -> int:
    """Call ``write(tmp_path)``, then make it version N+1; returns N+1."""
    model_dir.mkdir(parents=True, exist_ok=True)
    sweep(model_dir)
    tmp = model_dir / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
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
