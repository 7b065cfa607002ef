"""What the Stems button posts: every part in one zip when it fits the channel's upload limit, else the
largest parts that fit, with a note of the rest. No Discord here: paths in, paths and a note out."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from bgm.files import megabytes

MAX_FILES = 10  # Discord's attachments per message


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


def bundle(stems: list[Path], zip_path: Path, limit: int) -> Bundle:
    """``stems`` zipped at ``zip_path`` if that fits in ``limit`` bytes; else the largest of them whose
    sizes add up to at most ``limit`` (the zip is removed)."""
    # Stored, not deflated: Ogg and MP3 do not compress, and storing costs no CPU.
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        for path in stems:
            archive.write(path, arcname=path.name)
    size = zip_path.stat().st_size
    if size <= limit:
        return Bundle((zip_path,))
    zip_path.unlink()
    chosen, room = [], limit
    for path in sorted(stems, key=lambda p: p.stat().st_size, reverse=True):
        if path.stat().st_size <= room and len(chosen) < MAX_FILES:
            chosen.append(path)
            room -= path.stat().st_size
    return Bundle(tuple(chosen), tuple(p for p in stems if p not in chosen), size)
