"""The record of every track, so buttons, ``/bgm status`` and recovery outlive a restart.

In PostgreSQL when ``BGM_DATABASE_URL`` names one (several bot processes share it), else in a
SQLite file in the data folder; the same SQLAlchemy Core statements run on both, over the schema of
``bot/tracks/migrations`` (``bot.tracks.database``). The engine blocks, so every call runs in a
worker thread (``asyncio.to_thread``); the database is written a few times per song.

Each track has a ``state``: ``pending`` from the request until its requester has an answer, then
``posted`` or ``failed``. A bot killed with songs queued leaves them ``pending``, and the next bot
finds them with ``unfinished`` (see ``TrackMaker.recover``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from bot.tracks.database import RecordsUnavailable, open_engine, records_url, unavailable
from composer.composer import ComposeRequest

__all__ = ["FAILED", "PENDING", "POSTED", "RecordsUnavailable", "Track", "TrackStore"]
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


# The table as the newest migration leaves it (a test compares the two on both databases).
METADATA = sa.MetaData()
TRACKS = sa.Table(
    "tracks",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("guild_id", sa.BigInteger),
    sa.Column("channel_id", sa.BigInteger),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("model_version", sa.Integer),
    sa.Column("key", sa.Text),
    sa.Column("tempo", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("jump_url", sa.Text),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("tracks.id")),
    sa.Column("root_id", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default=PENDING),
    sa.Index("tracks_root", "root_id"),
    sa.Index("tracks_state", "state"),
    sqlite_autoincrement=True,
)


def _track(row: sa.Row) -> Track:
    data = row._asdict()
    return Track.from_dict({**data, "request": json.loads(data["request"])})


class TrackStore:
    """The tracks in the database at ``location``: a ``postgresql://`` or ``sqlite://`` URL, or a
    SQLite file's path."""

    def __init__(self, location: str | Path) -> None:
        self.url = records_url(location)
        self._engine: sa.Engine | None = None

    async def open(self) -> TrackStore:
        """Connect and upgrade the schema; ``RecordsUnavailable`` (one sentence) when it cannot."""
        self._engine = await asyncio.to_thread(open_engine, self.url)
        return self

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.to_thread(engine.dispose)

    def _run(self, work):
        if self._engine is None:
            raise RuntimeError("the track store is not open")
        try:
            with self._engine.begin() as connection:  # one transaction per call
                return work(connection)
        except DBAPIError as error:
            if (
                isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
                or error.connection_invalidated
            ):
                raise unavailable(self.url, error) from error
            raise

    async def _in_thread(self, work):
        return await asyncio.to_thread(self._run, work)

    async def add(self, track: Track) -> Track:
        """``track`` recorded, with its new id (and itself as root when it has no family yet)."""
        row = track.to_dict()
        row["request"] = json.dumps(row["request"])
        del row["id"]

        def insert(connection: sa.Connection) -> Track:
            new_id = connection.execute(TRACKS.insert().values(row)).inserted_primary_key[0]
            if track.root_id is not None:
                return replace(track, id=new_id)
            connection.execute(TRACKS.update().where(TRACKS.c.id == new_id).values(root_id=new_id))
            return replace(track, id=new_id, root_id=new_id)

        return await self._in_thread(insert)

    async def update(self, track_id: int, **values) -> None:
        """Set some columns of one track (the result's model version, key, message link...)."""
        if "request" in values:
            values["request"] = json.dumps(values["request"].to_dict())
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"no such track columns: {', '.join(sorted(unknown))}")
        statement = TRACKS.update().where(TRACKS.c.id == track_id).values(values)
        await self._in_thread(lambda connection: connection.execute(statement))

    async def get(self, track_id: int) -> Track | None:
        statement = TRACKS.select().where(TRACKS.c.id == track_id)
        row = await self._in_thread(lambda connection: connection.execute(statement).first())
        return None if row is None else _track(row)

    async def next_variation(self, root_id: int, seed: int) -> int:
        """One more than the highest variation of ``seed`` in a family, so each press sounds new."""
        statement = sa.select(TRACKS.c.request).where(TRACKS.c.root_id == root_id)
        rows = await self._in_thread(lambda connection: connection.execute(statement).scalars().all())
        requests = [json.loads(text) for text in rows]
        return max((r.get("variation", 0) for r in requests if r.get("seed") == seed), default=0) + 1

    async def unfinished(self) -> list[Track]:
        """Tracks whose requester got no answer yet (a bot killed while they waited), oldest first."""
        statement = TRACKS.select().where(TRACKS.c.state == PENDING).order_by(TRACKS.c.id)
        rows = await self._in_thread(lambda connection: connection.execute(statement).all())
        return [_track(row) for row in rows]

    async def count(self, *, finished: bool = True) -> int:
        """How many tracks were made (posted, when ``finished``), over the bot's whole life."""
        statement = sa.select(sa.func.count()).select_from(TRACKS)
        if finished:
            statement = statement.where(TRACKS.c.message_id.is_not(None))
        return await self._in_thread(lambda connection: connection.execute(statement).scalar_one())
