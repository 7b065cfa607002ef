"""Which files are music, what their bytes must pass, and the rules for a zip of them: for uploads,
primers and training alike.

A zip is never extracted with its own member names: members are read in memory (Python's zipfile
yields at most a member's declared size, so checking the declared sizes bounds what is read).
"""

from __future__ import annotations

import contextlib
import io
import re
import stat
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import mido
from mido.midifiles import meta as mido_meta

MIDI_SUFFIXES = (".mid", ".midi")
MUSIC_SUFFIXES = (*MIDI_SUFFIXES, ".mxl", ".musicxml", ".xml", ".abc", ".krn")
ZIP_SUFFIX = ".zip"
# Archives of any kind, by name and by their first bytes: never accepted inside a zip (".mxl" is a zip
# too, but a music file: compressed MusicXML).
ARCHIVE_SUFFIXES = (ZIP_SUFFIX, ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".zst")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
MAC_JUNK = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$)")  # resource forks a Mac adds to zips
# music21 builds every measure of a MIDI file: a single event 2^28 ticks late (4 bytes) or thousands of
# tracks keep its parser busy for hours and take gigabytes, so such files are refused before it sees them.
MIDI_MAX_TRACKS = 128
MIDI_MAX_QUARTERS = 8192  # about an hour at 120 bpm


def suffix(name: str) -> str:
    """The lower-case suffix of a file or zip member name (``"A/B.MID"`` -> ``".mid"``)."""
    return PurePosixPath(name).suffix.lower()


def is_music(name: str) -> bool:
    return suffix(name) in MUSIC_SUFFIXES


def is_junk(member: str) -> bool:
    return MAC_JUNK.search(member) is not None


def unsafe_member(member: str) -> bool:
    """A member name that would escape a folder it was extracted to (absolute, drive, ``..``...)."""
    return (
        member.startswith(("/", "\\"))
        or "\\" in member
        or "\x00" in member
        or re.match(r"^[A-Za-z]:", member) is not None
        or ".." in PurePosixPath(member).parts
    )


@dataclass(frozen=True)
class ZipLimits:
    max_members: int  # files in one zip
    max_expanded: int  # bytes all members together expand to


def zip_problem(
    members: list[zipfile.ZipInfo], limits: ZipLimits, quote: Callable[[str], str] = repr
) -> str | None:
    """Why a zip with these members is refused (too many, a bomb, unsafe names...), or None.

    The reason continues a sentence that starts with the zip's name: "songs.zip holds 600 files...".
    """
    if len(members) > limits.max_members:
        return f"holds {len(members)} files, over the limit of {limits.max_members}"
    expanded = sum(m.file_size for m in members)
    if expanded > limits.max_expanded:
        return f"would expand to {megabytes(expanded)}, over the {megabytes(limits.max_expanded)} limit"
    for member in members:
        if unsafe_member(member.filename):
            return f"contains an unsafe path ({quote(member.filename)})"
        if member.flag_bits & 0x1:
            return "is encrypted"
        if stat.S_ISLNK(member.external_attr >> 16):  # harmless unextracted, but never music
            return f"contains a symbolic link ({quote(member.filename)})"
    return None


def shown(name: str) -> str:
    """A user's file name made safe to quote in a message: printable, short, in backticks."""
    clean = "".join(c for c in name if c.isprintable()).replace("`", "'")
    return f"`{clean[:60] + '…' if len(clean) > 60 else clean}`"


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def content_problem(
    kind: str, data: bytes, limits: ZipLimits, quote: Callable[[str], str] = repr
) -> str | None:
    """Why ``data`` is not the music file its suffix ``kind`` says (cheap checks; music21 does the real
    parsing), or None. As with ``zip_problem``, the reason continues a sentence that starts with the
    file's name."""
    if kind in MIDI_SUFFIXES:
        if not data.startswith(b"MThd"):
            return "is not a MIDI file (no MThd header)"
        return midi_problem(data)
    if kind == ".mxl":  # compressed MusicXML: the same bomb checks as any zip
        try:
            members = zipfile.ZipFile(io.BytesIO(data)).infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            return "is not a readable zip archive"
        return zip_problem(members, limits, quote)
    if b"\x00" in data:
        return "is not a text file"
    if kind in (".xml", ".musicxml") and b"<!ENTITY" in data:
        return "declares XML entities, which music files never need"
    return None


def midi_problem(data: bytes) -> str | None:
    """Why a MIDI file cannot be read, from its header, then its tracks as mido reads them."""
    # The header first: cheap, and it says how much reading the tracks would take.
    if len(data) < 14:
        return "is truncated (no complete MIDI header)"
    length, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    if length < 6 or fmt > 2:
        return "is not a MIDI file (bad header)"
    if division & 0x8000 or division == 0:
        return "uses a time division bgm cannot read (SMPTE or zero ticks per beat)"
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
