"""Where rendered songs are kept (the files posted, and ``song.json``, which Stems renders), and
for how long.

``Songs`` is what the track maker needs of a store. ``LocalSongs`` is the data folder's
``songs/<track id>/``, as always: a song is rendered straight into its folder, so keeping it costs
nothing; ``bot.tracks.s3songs.S3Songs`` keeps them in an S3-compatible bucket. ``Retention`` says
which songs go (older than an age, past a count, past a total size: the oldest first); ``prune``
applies it to either. A pruned song's record stays in the track store; its Stems button then says
the song is no longer kept.

Every call that touches the disk runs in a worker thread: folders are listed and removed off the
event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bgm.errors import BgmError

RECORD = "song.json"  # the composition, beside its files: what Stems renders, and the song's date


@dataclass(frozen=True)
class Stored:
    """One kept song: its track, when it was made (seconds since the epoch) and its bytes."""

    track_id: int
    made_at: float
    size: int


@dataclass(frozen=True)
class Retention:
    """Songs kept at most ``max_age_s`` seconds, ``max_songs`` of them, ``max_bytes`` in all (None: no
    limit). Past a limit the oldest go first."""

    max_age_s: float | None = None
    max_songs: int | None = None
    max_bytes: int | None = None

    @property
    def keeps_everything(self) -> bool:
        return self.max_age_s is None and self.max_songs is None and self.max_bytes is None

    def expired(self, stored: list[Stored], now: float) -> list[int]:
        """The track ids to remove, oldest first."""
        newest_first = sorted(stored, key=lambda song: (song.made_at, song.track_id), reverse=True)
        kept, total, gone = 0, 0, []
        for song in newest_first:
            too_old = self.max_age_s is not None and now - song.made_at > self.max_age_s
            too_many = self.max_songs is not None and kept >= self.max_songs
            too_big = self.max_bytes is not None and total + song.size > self.max_bytes
            if too_old or too_many or too_big:
                gone.append(song.track_id)
            else:
                kept, total = kept + 1, total + song.size
        return gone[::-1]


class SongsUnavailable(BgmError):
    """The song store cannot be reached or refused the bot; ``str`` is one sentence."""


class Songs(Protocol):
    """Where songs are rendered (``folder``), kept once posted (``keep``) and read back (``read``);
    ``stored`` and ``remove`` serve the retention. May raise ``SongsUnavailable``."""

    def folder(self, track_id: int) -> Path: ...

    async def keep(self, track_id: int) -> None: ...

    async def read(self, track_id: int, name: str) -> bytes | None: ...

    async def stored(self) -> list[Stored]: ...

    async def remove(self, track_id: int) -> None: ...


class LocalSongs:
    """Songs in ``root/<track id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, track_id: int) -> Path:
        """Where a track's song is rendered (and, here, kept)."""
        return self.root / str(track_id)

    async def keep(self, track_id: int) -> None:
        """The song rendered in ``folder(track_id)`` is kept: here it is already in place."""

    async def read(self, track_id: int, name: str) -> bytes | None:
        """A kept file of the song, or None when the song (or that file) is not kept."""
        path = self.folder(track_id) / name
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def stored(self) -> list[Stored]:
        return await asyncio.to_thread(self._stored)

    def _stored(self) -> list[Stored]:
        if not self.root.is_dir():
            return []
        songs = []
        for entry in os.scandir(self.root):
            if not (entry.is_dir() and entry.name.isdigit()):
                continue
            folder = Path(entry.path)
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            record = folder / RECORD
            made_at = record.stat().st_mtime if record.is_file() else entry.stat().st_mtime
            songs.append(Stored(int(entry.name), made_at, size))
        return songs

    async def remove(self, track_id: int) -> None:
        await asyncio.to_thread(shutil.rmtree, self.folder(track_id), ignore_errors=True)


async def prune(songs: Songs, retention: Retention, now: float | None = None) -> list[int]:
    """Remove the songs ``retention`` no longer keeps; their track ids, oldest first."""
    if retention.keeps_everything:
        return []
    gone = retention.expired(await songs.stored(), time.time() if now is None else now)
    for track_id in gone:
        await songs.remove(track_id)
    return gone
