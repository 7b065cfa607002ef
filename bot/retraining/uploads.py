"""Training uploads: checked before anything starts, zips read in memory, saved under generated names.

Two steps because the first can run before downloading: ``check_attachments`` looks at names
and declared sizes only; ``inspect`` reads the bytes. Which files are music and what a zip must
pass are ``bgm.files``' rules (training's own reader applies them too); a zip is never extracted
with its own member names: each music member is read in memory and ``save`` writes it as
``0001.mid`` and so on. MIDI files are read with mido before training's much slower parser sees them.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mido
from mido.midifiles import meta as mido_meta

from bgm import files
from bgm.errors import BgmError
from bgm.files import MIDI_SUFFIXES, MUSIC_SUFFIXES, ZIP_SUFFIX, ZipLimits, megabytes

ALLOWED = (*MUSIC_SUFFIXES, ZIP_SUFFIX)
# music21 builds every measure of a MIDI file: a single event 2^28 ticks late (4 bytes) or thousands of
# tracks keep training's parser busy for hours and take gigabytes, so such files are refused here.
MIDI_MAX_TRACKS = 128
MIDI_MAX_QUARTERS = 8192  # about an hour at 120 bpm


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


def shown(name: str) -> str:
    """A user's file name made safe to quote in a message: printable, short, in backticks."""
    clean = "".join(c for c in name if c.isprintable()).replace("`", "'")
    return f"`{clean[:60] + '…' if len(clean) > 60 else clean}`"


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
    """The bytes look like what the suffix says (cheap checks; music21 does the real parsing)."""
    if suffix in MIDI_SUFFIXES:
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


def _midi_problem(data: bytes) -> str | None:
    """Why a MIDI file cannot be trained on, from its header, then its tracks as mido reads them."""
    # The header first: cheap, and it says how much reading the tracks would take.
    if len(data) < 14:
        return "is truncated (no complete MIDI header)"
    length, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    if length < 6 or fmt > 2:
        return "is not a MIDI file (bad header)"
    if division & 0x8000 or division == 0:
        return "uses a time division the trainer cannot read (SMPTE or zero ticks per beat)"
    if not 1 <= tracks <= MIDI_MAX_TRACKS:
        return f"declares {tracks} tracks (1 to {MIDI_MAX_TRACKS} are accepted)"
    try:
        with _meta_events_undecoded():
            midi = mido.MidiFile(file=io.BytesIO(data))
    except EOFError:
        return "is truncated (it ends inside a track, or has fewer tracks than its header declares)"
    except Exception as error:  # hostile bytes can fail mido's reader in many ways; each is a refusal
        detail = "".join(c for c in str(error) if c.isprintable())[:80] or type(error).__name__
        return f"is corrupt ({detail})"
    longest = max((sum(message.time for message in track) for track in midi.tracks), default=0)
    if longest / division > MIDI_MAX_QUARTERS:
        return (
            f"lasts {longest // division:,} beats, over the limit of {MIDI_MAX_QUARTERS:,} "
            "(a corrupt delta time?)"
        )
    return None


_MIDO_META = threading.Lock()


@contextlib.contextmanager
def _meta_events_undecoded() -> Iterator[None]:
    """While mido reads here, it keeps meta events as raw bytes instead of decoding them.

    The check counts ticks; meta events carry none. mido decodes each one as it reads and gives up
    on contents music21 takes in its stride (a time signature of 1/2^31, where its float log2 misses
    the power of two; an unknown key; a tempo event one byte short). mido has no option for this:
    its table of meta specs is emptied for the read, under a lock, and restored.
    """
    with _MIDO_META:
        specs = dict(mido_meta._META_SPECS)
        mido_meta._META_SPECS.clear()
        try:
            yield
        finally:
            mido_meta._META_SPECS.update(specs)


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
