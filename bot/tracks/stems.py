"""What the Stems button posts: every part in one zip when it fits the channel's upload limit, else the
largest parts that fit, with a note of the rest. No Discord here: paths in, paths and a note out.

Rendering a song's stems takes seconds of CPU (every part synthesised alone), so a track's stems and
zip are kept in its folder for the next click: ``cached`` finds them, ``keep`` records them, and only
the ``KEPT`` most recently clicked tracks keep theirs, so the data folder stays bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bgm.files import megabytes

MAX_FILES = 10  # Discord's attachments per message
KEPT = 20  # tracks whose stems are kept for the next click
RECORD = "stems.json"  # the parts' file names; written last, so a render cut short leaves none


@dataclass(frozen=True)
class Bundle:
    paths: tuple[Path, ...]  # what to attach: the zip, or the parts that fit
    left_out: tuple[Path, ...] = ()
    zip_bytes: int = 0  # the zip's size, when it did not fit

    @property
    def note(self) -> str | None:
        if not self.left_out:
            return None
        names = ", ".join(p.name for p in self.left_out)
        return (
            f"All the stems zipped would be {megabytes(self.zip_bytes)}, over this channel's upload limit: "
            f"here are the largest that fit. Left out: {names}."
        )


def zip_path(stems: list[Path]) -> Path:
    """``<song>-stems.zip`` beside the parts ``<song>-<part>.<fmt>``."""
    return stems[0].with_name(f"{stems[0].stem.rsplit('-', 1)[0]}-stems.zip")


def bundle(stems: list[Path], limit: int) -> Bundle:
    """``stems`` zipped (``zip_path``; an earlier click's zip is reused) if that fits in ``limit``
    bytes; else the largest of them whose sizes add up to at most ``limit``."""
    archive_path = zip_path(stems)
    if not archive_path.is_file():
        # A name of its own: two clicks at once may both be writing one.
        handle, name = tempfile.mkstemp(suffix=".partial", dir=archive_path.parent)
        os.close(handle)
        # Stored, not deflated: Ogg and MP3 do not compress, and storing costs no CPU.
        with zipfile.ZipFile(name, "w", zipfile.ZIP_STORED) as archive:
            for path in stems:
                archive.write(path, arcname=path.name)
        os.replace(name, archive_path)  # whole or not there: a later click may reuse it
    size = archive_path.stat().st_size
    if size <= limit:
        return Bundle((archive_path,))
    chosen, room = [], limit
    for path in sorted(stems, key=lambda p: p.stat().st_size, reverse=True):
        if path.stat().st_size <= room and len(chosen) < MAX_FILES:
            chosen.append(path)
            room -= path.stat().st_size
    return Bundle(tuple(chosen), tuple(p for p in stems if p not in chosen), size)


def cached(folder: Path) -> list[Path] | None:
    """The stems kept in ``folder`` by an earlier click, when all are still there (marked as just used)."""
    record = folder / RECORD
    try:
        stems = [folder / name for name in json.loads(record.read_text())]
    except (OSError, ValueError):
        return None
    if not stems or not all(p.is_file() for p in stems):
        return None
    os.utime(record)  # recency decides what ``keep`` removes
    return stems


def keep(folder: Path, stems: list[Path]) -> None:
    """Record ``stems`` (in ``folder``) for the next click; then remove the stems of all but the
    ``KEPT`` most recently used tracks beside it (``<songs>/<track>/stems``)."""
    (folder / RECORD).write_text(json.dumps([p.name for p in stems]))
    kept = sorted(folder.parent.parent.glob(f"*/{folder.name}/{RECORD}"), key=_used, reverse=True)
    for record in kept[KEPT:]:
        shutil.rmtree(record.parent, ignore_errors=True)


def _used(record: Path) -> float:
    try:
        return record.stat().st_mtime
    except OSError:  # removed meanwhile
        return 0.0
