"""Which files are music, and the rules a zip of them must pass, for uploads and training alike.

A zip is never extracted with its own member names: members are read in memory (Python's zipfile
yields at most a member's declared size, so checking the declared sizes bounds what is read).
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

MIDI_SUFFIXES = (".mid", ".midi")
MUSIC_SUFFIXES = (*MIDI_SUFFIXES, ".mxl", ".musicxml", ".xml", ".abc", ".krn")
ZIP_SUFFIX = ".zip"
# Archives of any kind, by name and by their first bytes: never accepted inside a zip (".mxl" is a zip
# too, but a music file: compressed MusicXML).
ARCHIVE_SUFFIXES = (ZIP_SUFFIX, ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".zst")
ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
MAC_JUNK = re.compile(r"(^|/)(__MACOSX/|\._|\.DS_Store$)")  # resource forks a Mac adds to zips


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


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
