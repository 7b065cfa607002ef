"""The track record, on SQLite and on a real PostgreSQL: round trips, families of tracks, states,
a reopened database, schema upgrades, and a database that is down."""

import asyncio
import sqlite3

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.tracks.database import RecordsUnavailable, records_url
from bot.tracks.store import FAILED, METADATA, PENDING, POSTED, Track, TrackStore
from composer.composer import ComposeRequest


def track(**overrides):
    values = dict(
        user_id=7, user_name="ann", guild_id=1, channel_id=2, request=ComposeRequest("calm", "short", seed=5)
    )
    return Track(**{**values, **overrides})


@pytest.fixture
async def store(records_location):
    opened = await TrackStore(records_location).open()
    yield opened
    await opened.close()


async def test_a_track_comes_back_as_it_was_recorded(store):
    added = await store.add(track())
    assert added.id == 1 and added.root_id == 1
    assert await store.get(added.id) == added


async def test_discord_ids_past_32_bits_are_kept(store):
    snowflake = 1_234_567_890_123_456_789
    added = await store.add(track(user_id=snowflake, guild_id=snowflake + 1, channel_id=snowflake + 2))
    await store.update(added.id, message_id=snowflake + 3)
    got = await store.get(added.id)
    assert (got.user_id, got.guild_id, got.channel_id, got.message_id) == (
        snowflake,
        snowflake + 1,
        snowflake + 2,
        snowflake + 3,
    )


async def test_updates_fill_in_the_result(store):
    added = await store.add(track(request=ComposeRequest("sad")))
    request = ComposeRequest("sad", seed=99)
    await store.update(added.id, request=request, model_version=3, key="A minor", message_id=42, jump_url="u")
    got = await store.get(added.id)
    assert (got.request, got.model_version, got.key, got.message_id, got.jump_url) == (
        request,
        3,
        "A minor",
        42,
        "u",
    )


async def test_an_unknown_column_is_refused(store):
    added = await store.add(track())
    with pytest.raises(ValueError, match="no such track columns: colour"):
        await store.update(added.id, colour="red")


async def test_the_record_survives_a_reopen(records_location):
    store = await TrackStore(records_location).open()
    added = await store.add(track())
    await store.update(added.id, message_id=5)
    await store.close()
    again = await TrackStore(records_location).open()
    assert (await again.get(added.id)).message_id == 5
    assert await again.count() == 1
    await again.close()


async def test_count_only_counts_posted_tracks_by_default(store):
    posted = await store.add(track())
    await store.add(track())
    await store.update(posted.id, message_id=1)
    assert (await store.count(), await store.count(finished=False)) == (1, 2)


async def test_variations_in_a_family_count_up(store):
    first = await store.add(track())
    assert await store.next_variation(first.root_id, 5) == 1
    child = await store.add(
        track(
            request=ComposeRequest("calm", "short", seed=5, variation=1),
            parent_id=first.id,
            root_id=first.root_id,
        )
    )
    assert child.root_id == first.id
    assert await store.next_variation(first.root_id, 5) == 2
    assert await store.next_variation(first.root_id, 6) == 1  # another seed starts again


async def test_tracks_are_pending_until_answered_and_found_again_after_a_reopen(records_location):
    store = await TrackStore(records_location).open()
    tracks = [await store.add(Track(u, f"u{u}", 1, 2, ComposeRequest("calm"))) for u in range(3)]
    await store.update(tracks[0].id, message_id=5, state=POSTED)
    await store.update(tracks[1].id, state=FAILED)
    await store.close()
    store = await TrackStore(records_location).open()
    assert [t.id for t in await store.unfinished()] == [tracks[2].id]
    assert (await store.unfinished())[0].state == PENDING
    await store.close()


async def test_concurrent_adds_each_get_their_own_id(store):
    added = await asyncio.gather(*(store.add(track(user_id=u)) for u in range(20)))
    assert len({t.id for t in added}) == 20
    assert all(t.root_id == t.id for t in added)
    assert await store.count(finished=False) == 20


async def test_an_unknown_track_is_none(store):
    assert await store.get(123) is None


async def test_two_stores_opening_one_empty_database_at_once_both_work(records_location):
    first, second = await asyncio.gather(
        TrackStore(records_location).open(), TrackStore(records_location).open()
    )
    added = await first.add(track())
    assert await second.get(added.id) == added
    await first.close()
    await second.close()


async def test_the_migrated_schema_is_the_one_the_code_uses(records_location):
    """Alembic's comparison of the migrated database with ``store.METADATA`` finds nothing to change."""
    store = await TrackStore(records_location).open()
    await store.close()
    engine = sa.create_engine(records_url(records_location))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), METADATA)
    engine.dispose()
    assert differences == []


def old_release_database(path, with_state: bool) -> None:
    """A SQLite file exactly as an earlier release wrote it (its own SCHEMA), with two tracks."""
    state = ",\n    state TEXT NOT NULL DEFAULT 'pending'" if with_state else ""
    db = sqlite3.connect(path)
    db.executescript(
        f"""CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, user_name TEXT NOT NULL,
    guild_id INTEGER, channel_id INTEGER, request TEXT NOT NULL, model_version INTEGER, key TEXT,
    tempo INTEGER, seconds REAL, message_id INTEGER, jump_url TEXT, parent_id INTEGER REFERENCES tracks(id),
    root_id INTEGER, created_at REAL NOT NULL{state});
CREATE INDEX IF NOT EXISTS tracks_root ON tracks(root_id);
INSERT INTO tracks (user_id, user_name, request, message_id, root_id, created_at)
    VALUES (1, 'a', '{{"mood": "calm", "seed": 3}}', 10, 1, 0), (2, 'b', '{{"mood": "sad"}}', NULL, 2, 0);"""
    )
    if with_state:
        db.execute("UPDATE tracks SET state = 'posted' WHERE id = 1")
    db.commit()
    db.close()


@pytest.mark.parametrize("with_state", [False, True], ids=["before-states", "last-release"])
async def test_a_sqlite_file_from_an_earlier_release_is_upgraded_in_place(tmp_path, with_state):
    path = tmp_path / "tracks.sqlite3"
    old_release_database(path, with_state)
    store = await TrackStore(path).open()
    kept = [await store.get(i) for i in (1, 2)]
    assert [(t.user_name, t.request.mood, t.message_id) for t in kept] == [
        ("a", "calm", 10),
        ("b", "sad", None),
    ]
    # Before states: posted if it had a message, else failed; never revived as pending.
    assert [t.state for t in kept] == ([POSTED, FAILED] if not with_state else [POSTED, PENDING])
    new = await store.add(Track(3, "c", 1, 2, ComposeRequest("epic")))
    assert new.id == 3
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
        assert db.execute("SELECT COUNT(*) FROM tracks").fetchone() == (3,)


async def test_a_database_that_is_down_is_one_sentence_naming_it_without_its_password():
    port = _closed_port()
    store = TrackStore(f"postgresql://bgm:secret@127.0.0.1:{port}/bgm")
    with pytest.raises(RecordsUnavailable) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith(
        f"Cannot open the track database at postgresql+psycopg://bgm:***@127.0.0.1:{port}/bgm:"
    )
    assert "secret" not in message and "\n" not in message and message.endswith(".")


async def test_a_database_that_stops_answering_is_one_sentence_and_used_again_when_back(postgres, caplog):
    url = postgres.create_database()
    name = url.rsplit("/", 1)[1]
    store = await TrackStore(url).open()
    added = await store.add(track())
    postgres.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    postgres.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", name)
    with pytest.raises(RecordsUnavailable) as caught:
        await store.get(added.id)
    # The user hears one sentence without the database's address; the log has the address and why.
    assert str(caught.value) == "The track database is not answering; try again in a minute."
    assert f"the track database at postgresql+psycopg://bgm@127.0.0.1:{postgres.port}/{name}" in caplog.text
    postgres.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert await store.get(added.id) == added  # the same store, no reopen
    await store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must be PostgreSQL or SQLite, not mysql"),
        ("not a url", "is not a database URL"),
    ],
)
def test_a_bad_database_url_is_refused_in_one_sentence(url, message):
    with pytest.raises(ValueError, match=message):
        records_url(url)


def test_postgres_urls_use_psycopg_3():
    assert records_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert records_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


def test_a_track_round_trips_through_a_dict():
    t = track(id=3, root_id=3, model_version=2)
    assert Track.from_dict(t.to_dict()) == t


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_sqlite_file_that_cannot_be_made_is_one_sentence(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(RecordsUnavailable, match=r"^Cannot open the track database at sqlite:///.*a-file"):
        await TrackStore(tmp_path / "a-file" / "tracks.sqlite3").open()
