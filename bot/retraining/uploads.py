"""Training uploads: checked before anything starts, zips read in memory, saved under generated names.

Two steps because the first can run before downloading: ``check_attachments`` looks at names
and declared sizes only; ``inspect`` reads the bytes. Which files are music and what a zip must
pass are ``bgm.files``' rules (training's own reader applies them too); a zip is never extracted
with its own member names: each music member is read in memory and ``save`` writes it as
``0001.mid`` and so on. MIDI files are read with mido before training's much slower parser sees them
(``bgm.files.content_problem``, which primers for ``/bgm compose`` pass too).
"""

from __future__ import annotations

import io
import secrets
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bgm import files
from bgm.errors import BgmError
from bgm.files import MUSIC_SUFFIXES, ZIP_SUFFIX, ZipLimits, megabytes, shown

ALLOWED = (*MUSIC_SUFFIXES, ZIP_SUFFIX)


class UploadRejected(BgmError):
    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{shown(name)} {reason}.")


@dataclass(frozen=True)
class UploadLimits(ZipLimits):
    """``ZipLimits`` for each zip, and how many files of what size one command may attach."""

    max_files: int
    max_bytes: int  # per attached file

    @classmethod
    def from_settings(cls, settings) -> UploadLimits:
        return cls(
            max_files=settings.upload_max_files,
            max_bytes=settings.upload_max_bytes,
            max_members=settings.upload_max_members,
            max_expanded=settings.upload_max_expanded,
        )


@dataclass(frozen=True)
class MusicFile:
    origin: str  # where it came from, for messages: "songs.zip/reel.mid"
    suffix: str  # one of MUSIC_SUFFIXES
    data: bytes


def check_attachments(items: list[tuple[str, int]], limits: UploadLimits) -> None:
    """Names and declared sizes, before downloading anything."""
    if len(items) > limits.max_files:
        raise UploadRejected(f"{len(items)} files", f"are too many: attach at most {limits.max_files}")
    for name, size in items:
        if files.suffix(name) not in ALLOWED:
            raise UploadRejected(name, f"is not a music file or zip (allowed: {' '.join(ALLOWED)})")
        if size > limits.max_bytes:
            raise UploadRejected(name, f"is {megabytes(size)}, over the {megabytes(limits.max_bytes)} limit")


def _check_content(name: str, suffix: str, data: bytes, limits: UploadLimits) -> None:
    """The bytes look like what the suffix says (``bgm.files.content_problem``)."""
    if problem := files.content_problem(suffix, data, limits, quote=shown):
        raise UploadRejected(name, problem)


def _zip_members(name: str, data: bytes, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """The members of a zip after the structural checks: readable, not too many, not a bomb."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UploadRejected(name, "is not a readable zip archive") from None
    if problem := files.zip_problem(members, limits, quote=shown):
        raise UploadRejected(name, problem)
    return members


def _read_zip(name: str, data: bytes, limits: UploadLimits) -> list[MusicFile]:
    members = _zip_members(name, data, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    found = []
    for member in members:
        inner, suffix = member.filename, files.suffix(member.filename)
        if member.is_dir() or files.is_junk(inner):
            continue
        if suffix in files.ARCHIVE_SUFFIXES:
            raise UploadRejected(
                name, f"contains another archive ({shown(inner)}); zip the music files directly"
            )
        if suffix not in MUSIC_SUFFIXES:
            continue  # a README or a cover image: not ours to judge, not trained on
        try:
            content = archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
            raise UploadRejected(name, f"is corrupt ({shown(inner)} cannot be read)") from None
        if suffix != ".mxl" and content.startswith(files.ARCHIVE_MAGIC):
            raise UploadRejected(
                name, f"contains another archive ({shown(inner)}); zip the music files directly"
            )
        _check_content(f"{name}/{inner}", suffix, content, limits)
        found.append(MusicFile(f"{name}/{inner}", suffix, content))
    if not found:
        raise UploadRejected(name, f"has no music files in it ({' '.join(MUSIC_SUFFIXES)})")
    return found


def inspect(name: str, data: bytes, limits: UploadLimits) -> list[MusicFile]:
    """The music in one upload (one file, or each music member of a zip), or why it is refused."""
    check_attachments([(name, len(data))], limits)
    suffix = files.suffix(name)
    if suffix == ZIP_SUFFIX:
        return _read_zip(name, data, limits)
    _check_content(name, suffix, data, limits)
    return [MusicFile(name, suffix, data)]


def save(music_files: list[MusicFile], root: Path) -> Path:
    """Write the files into a new folder under ``root`` as 0001.mid, 0002.abc...; returns the folder."""
    root = root.resolve()
    folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    for number, music in enumerate(music_files, 1):
        if music.suffix not in MUSIC_SUFFIXES:  # names are ours alone: a suffix from the whitelist
            raise ValueError(f"not a music suffix: {music.suffix!r}")
        (folder / f"{number:04d}{music.suffix}").write_bytes(music.data)
    return folder
