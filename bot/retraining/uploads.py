"""Training uploads: checked before anything starts, zips read in memory, saved under generated names.

Two steps because the first can run before downloading: ``check_attachments`` looks at names
and declared sizes only; ``inspect`` reads the bytes. A zip is never extracted with its own
member names: each music member is read in memory (Python's zipfile yields at most the declared
size, so the expanded-size check holds) and ``save`` writes it as ``0001.mid`` and so on.
"""

from __future__ import annotations

import io
import re
import secrets
import stat
import struct
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.errors import BgmError

MUSIC_SUFFIXES = (".mid", ".midi", ".mxl", ".musicxml", ".xml", ".abc", ".krn")
ALLOWED = (*MUSIC_SUFFIXES, ".zip")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".zst")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
MAC_JUNK = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$)")
# music21 builds every measure of a MIDI file: a single event 2^28 ticks late (4 bytes) or thousands of
# tracks keep training's parser busy for hours and take gigabytes, so such files are refused here.
MIDI_MAX_TRACKS = 128
MIDI_MAX_QUARTERS = 8192  # about an hour at 120 bpm


class UploadRejected(BgmError):
    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{shown(name)} {reason}.")


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 3
    max_bytes: int = 8 * 1024 * 1024
    max_members: int = 500
    max_expanded: int = 64 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings) -> UploadLimits:
        return cls(
            settings.upload_max_files,
            settings.upload_max_bytes,
            settings.upload_max_members,
            settings.upload_max_expanded,
        )


@dataclass(frozen=True)
class MusicFile:
    origin: str  # where it came from, for messages: "songs.zip/reel.mid"
    suffix: str  # one of MUSIC_SUFFIXES
    data: bytes


def shown(name: str) -> str:
    """A user's file name made safe to quote in a message: printable, short, in backticks."""
    clean = "".join(c for c in name if c.isprintable()).replace("`", "'")
    return f"`{clean[:60] + '…' if len(clean) > 60 else clean}`"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def check_attachments(items: list[tuple[str, int]], limits: UploadLimits) -> None:
    """Names and declared sizes, before downloading anything."""
    if len(items) > limits.max_files:
        raise UploadRejected(f"{len(items)} files", f"are too many: attach at most {limits.max_files}")
    for name, size in items:
        if _suffix(name) not in ALLOWED:
            raise UploadRejected(name, f"is not a music file or zip (allowed: {' '.join(ALLOWED)})")
        if size > limits.max_bytes:
            raise UploadRejected(
                name, f"is {_megabytes(size)}, over the {_megabytes(limits.max_bytes)} limit"
            )


def _check_content(name: str, suffix: str, data: bytes, limits: UploadLimits) -> None:
    """The bytes look like what the suffix says (cheap checks; music21 does the real parsing)."""
    if suffix in (".mid", ".midi"):
        if not data.startswith(b"MThd"):
            raise UploadRejected(name, "is not a MIDI file (no MThd header)")
        if problem := _midi_problem(data):
            raise UploadRejected(name, problem)
    elif suffix == ".mxl":
        _zip_members(name, data, limits)  # compressed MusicXML: the same bomb checks as any zip
    elif b"\x00" in data:
        raise UploadRejected(name, "is not a text file")
    elif suffix in (".xml", ".musicxml") and b"<!ENTITY" in data:
        raise UploadRejected(name, "declares XML entities, which music files never need")


def _vlq(data: bytes, at: int, end: int) -> tuple[int, int]:
    """A MIDI variable-length number at ``at``: (value, next offset); IndexError past ``end``."""
    value = 0
    for _ in range(4):
        if at >= end:
            raise IndexError(at)
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at
    raise IndexError(at)  # more than 4 bytes: not MIDI


def _track_ticks(data: bytes, at: int, end: int) -> int:
    """Length in ticks of the track in ``data[at:end]``; IndexError when an event is malformed."""
    ticks = 0
    status = None
    while at < end:
        delta, at = _vlq(data, at, end)
        ticks += delta
        if at >= end:
            raise IndexError(at)
        if data[at] & 0x80:
            status, at = data[at], at + 1
        elif status is None or status >= 0xF0:  # running status only continues channel messages
            raise IndexError(at)
        if status == 0xFF:  # meta event: type, length, data
            length, at = _vlq(data, at + 1, end)
            at += length
        elif status in (0xF0, 0xF7):  # sysex: length, data
            length, at = _vlq(data, at, end)
            at += length
        elif status >= 0xF0:
            raise IndexError(at)
        else:
            at += 1 if 0xC0 <= status < 0xE0 else 2
    if at > end:
        raise IndexError(at)
    return ticks


def _midi_problem(data: bytes) -> str | None:
    """Why a MIDI file cannot be trained on, from its chunks and events alone, or None."""
    if len(data) < 14:
        return "is truncated (no complete MIDI header)"
    length, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    if length < 6 or fmt > 2:
        return "is not a MIDI file (bad header)"
    if division & 0x8000 or division == 0:
        return "uses a time division the trainer cannot read (SMPTE or zero ticks per beat)"
    if not 1 <= tracks <= MIDI_MAX_TRACKS:
        return f"declares {tracks} tracks (1 to {MIDI_MAX_TRACKS} are accepted)"
    at, found, longest = 8 + length, 0, 0
    while found < tracks:
        if at + 8 > len(data):
            return "is truncated (fewer tracks than its header declares)"
        kind, size = data[at : at + 4], struct.unpack(">I", data[at + 4 : at + 8])[0]
        start, at = at + 8, at + 8 + size
        if at > len(data):
            return "is truncated (a track runs past the end of the file)"
        if kind != b"MTrk":
            continue  # unknown chunks are allowed, and skipped
        found += 1
        try:
            longest = max(longest, _track_ticks(data, start, at))
        except IndexError:
            return f"is corrupt (track {found} has a malformed event)"
    if longest / division > MIDI_MAX_QUARTERS:
        return (
            f"lasts {longest // division:,} beats, over the limit of {MIDI_MAX_QUARTERS:,} "
            "(a corrupt delta time?)"
        )
    return None


def _unsafe(member: str) -> bool:
    path = PurePosixPath(member)
    return (
        member.startswith(("/", "\\"))
        or "\\" in member
        or "\x00" in member
        or re.match(r"^[A-Za-z]:", member) is not None
        or ".." in path.parts
    )


def _zip_members(name: str, data: bytes, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """The members of a zip after the structural checks: readable, not too many, not a bomb."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise UploadRejected(name, "is not a readable zip archive") from None
    if len(members) > limits.max_members:
        raise UploadRejected(name, f"holds {len(members)} files, over the limit of {limits.max_members}")
    expanded = sum(m.file_size for m in members)
    if expanded > limits.max_expanded:
        raise UploadRejected(
            name, f"would expand to {_megabytes(expanded)}, over the {_megabytes(limits.max_expanded)} limit"
        )
    for member in members:
        if _unsafe(member.filename):
            raise UploadRejected(name, f"contains an unsafe path ({shown(member.filename)})")
        if member.flag_bits & 0x1:
            raise UploadRejected(name, "is encrypted")
        if stat.S_ISLNK(member.external_attr >> 16):  # harmless unextracted, but never music
            raise UploadRejected(name, f"contains a symbolic link ({shown(member.filename)})")
    return members


def _read_zip(name: str, data: bytes, limits: UploadLimits) -> list[MusicFile]:
    members = _zip_members(name, data, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    found = []
    for member in members:
        inner, suffix = member.filename, _suffix(member.filename)
        if member.is_dir() or MAC_JUNK.search(inner):
            continue
        if suffix in ARCHIVE_SUFFIXES:
            raise UploadRejected(
                name, f"contains another archive ({shown(inner)}); zip the music files directly"
            )
        if suffix not in MUSIC_SUFFIXES:
            continue  # a README or a cover image: not ours to judge, not trained on
        try:
            content = archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError):
            raise UploadRejected(name, f"is corrupt ({shown(inner)} cannot be read)") from None
        if suffix != ".mxl" and content.startswith(ARCHIVE_MAGIC):
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
    suffix = _suffix(name)
    if suffix == ".zip":
        return _read_zip(name, data, limits)
    _check_content(name, suffix, data, limits)
    return [MusicFile(name, suffix, data)]


def save(files: list[MusicFile], root: Path) -> Path:
    """Write ``files`` into a new folder under ``root`` as 0001.mid, 0002.abc...; returns the folder."""
    root = root.resolve()
    folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    for number, music in enumerate(files, 1):
        if music.suffix not in MUSIC_SUFFIXES:  # names are ours alone: a suffix from the whitelist
            raise ValueError(f"not a music suffix: {music.suffix!r}")
        (folder / f"{number:04d}{music.suffix}").write_bytes(music.data)
    return folder
