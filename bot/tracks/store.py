"""The record of every track, in SQLite, so buttons and ``/bgm status`` outlive a restart.

sqlite3 blocks, so every call runs in a worker thread (``asyncio.to_thread``) on one connection
guarded by a lock; the database is small and written a few times per song.

Each track has a ``state``: ``pending`` from the request until its requester has an answer, then
``posted`` or ``failed``. A bot killed with songs queued leaves them ``pending``, and the next bot
finds them with ``unfinished`` (see ``TrackMaker.recover``).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from composer.composer import ComposeRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER,
    request TEXT NOT NULL,
    model_version INTEGER,
    key TEXT,
    tempo INTEGER,
    seconds REAL,
    message_id INTEGER,
    jump_url TEXT,
    parent_id INTEGER REFERENCES tracks(id),
    root_id INTEGER,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS tracks_root ON tracks(root_id);
"""
# A record written before tracks had a state: posted if it has a message, else nothing to pick up.
ADD_STATE = (
    "ALTER TABLE tracks ADD COLUMN state TEXT NOT NULL DEFAULT 'pending'",
    "UPDATE tracks SET state = CASE WHEN message_id IS NULL THEN 'failed' ELSE 'posted' END",
)
PENDING, POSTED, FAILED = "pending", "posted", "failed"


@dataclass(frozen=True)
class Track:
    """One requested song: who asked where, with what options, and where the result was posted."""

    user_id: int
    user_name: str
    guild_id: int | None
    channel_id: int | None
    request: ComposeRequest  # with its seed once composed
    parent_id: int | None = None
    root_id: int | None = None  # the first track of a family of regenerations and variations
    model_version: int | None = None
    key: str | None = None
    tempo: int | None = None
    seconds: float | None = None
    message_id: int | None = None
    jump_url: str | None = None
    id: int | None = None
    created_at: float = field(default_factory=time.time)
    state: str = PENDING  # PENDING until the requester has their song (POSTED) or been told why not (FAILED)

    def to_dict(self) -> dict:
        return {**asdict(self), "request": self.request.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Track:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**{**fields, "request": ComposeRequest.from_dict(data["request"])})


COLUMNS = tuple(Track.__dataclass_fields__)


class TrackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> TrackStore:
        await asyncio.to_thread(self._open)
        return self

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        db.executescript(SCHEMA)
        if "state" not in {row["name"] for row in db.execute("PRAGMA table_info(tracks)")}:
            with db:  # one transaction: a crash mid-migration leaves the old table as it was
                db.execute("BEGIN")
                for statement in ADD_STATE:
                    db.execute(statement)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.to_thread(db.close)

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row] | int:
        if self._db is None:
            raise RuntimeError("the track store is not open")
        with self._lock:
            cursor = self._db.execute(sql, args)
            return cursor.fetchall() if cursor.description else cursor.lastrowid

    async def _query(self, sql: str, args: tuple = ()):
        return await asyncio.to_thread(self._run, sql, args)

    async def add(self, track: Track) -> Track:
        """``track`` recorded, with its new id (and itself as root when it has no family yet)."""
        row = track.to_dict()
        row["request"] = json.dumps(row["request"])
        names = [c for c in COLUMNS if c != "id"]
        new_id = await self._query(
            f"INSERT INTO tracks ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            tuple(row[c] for c in names),
        )
        if track.root_id is None:
            await self._query("UPDATE tracks SET root_id = ? WHERE id = ?", (new_id, new_id))
            return replace(track, id=new_id, root_id=new_id)
        return replace(track, id=new_id)

    async def update(self, track_id: int, **values) -> None:
        """Set some columns of one track (the result's model version, key, message link...)."""
        if "request" in values:
            values["request"] = json.dumps(values["request"].to_dict())
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"no such track columns: {', '.join(sorted(unknown))}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        await self._query(f"UPDATE tracks SET {assignments} WHERE id = ?", (*values.values(), track_id))

    async def get(self, track_id: int) -> Track | None:
        rows = await self._query("SELECT * FROM tracks WHERE id = ?", (track_id,))
        if not rows:
            return None
        data = dict(rows[0])
        return Track.from_dict({**data, "request": json.loads(data["request"])})

    async def next_variation(self, root_id: int, seed: int) -> int:
        """One more than the highest variation of ``seed`` in a family, so each press sounds new."""
        rows = await self._query("SELECT request FROM tracks WHERE root_id = ?", (root_id,))
        variations = [
            r["variation"] for r in map(lambda row: json.loads(row["request"]), rows) if r.get("seed") == seed
        ]
        return max(variations, default=0) + 1

    async def unfinished(self) -> list[Track]:
        """Tracks whose requester got no answer yet (a bot killed while they waited), oldest first."""
        rows = await self._query("SELECT * FROM tracks WHERE state = ? ORDER BY id", (PENDING,))
        return [Track.from_dict({**dict(row), "request": json.loads(row["request"])}) for row in rows]

    async def count(self, *, finished: bool = True) -> int:
        """How many tracks were made (posted, when ``finished``), over the bot's whole life."""
        where = " WHERE message_id IS NOT NULL" if finished else ""
        rows = await self._query(f"SELECT COUNT(*) AS n FROM tracks{where}")
        return rows[0]["n"]
