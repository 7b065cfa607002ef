"""Where the track records live: ``BGM_DATABASE_URL`` (PostgreSQL) or else a SQLite file, one engine.

The same SQLAlchemy Core code runs on both. The schema is Alembic's (``bot/tracks/migrations``):
``open_engine`` upgrades the database to the newest revision before anything reads it, so a
SQLite file written before Alembic (no ``alembic_version`` table) is upgraded in place, and
several bot processes starting at once on one PostgreSQL take turns (an advisory lock, in
``migrations/env.py``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bgm.errors import BgmError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
BACKENDS = ("sqlite", "postgresql")
# Alembic keeps the running migration in module globals (``alembic.context``): one at a time in a
# process. Between processes the database's own lock takes turns (``migrations/env.py``).
_MIGRATING = threading.Lock()


class RecordsUnavailable(BgmError):
    """The track database cannot be opened or stopped answering; ``str`` is one sentence."""


def records_url(value: str | Path) -> URL:
    """A database URL SQLAlchemy can use: a path is a SQLite file; PostgreSQL goes through psycopg 3.

    Raises ``ValueError`` in one sentence for anything else (a typo'd scheme, another database)."""
    if isinstance(value, Path):
        return URL.create("sqlite", database=str(value))
    try:
        url = make_url(value)
    except ArgumentError:
        # Not echoed: a mistyped URL can still hold a password.
        raise ValueError(
            "This is not a database URL (postgresql://user:password@host/db or sqlite:///path)."
        ) from None
    if url.get_backend_name() == "postgres":  # Heroku-style spelling
        url = url.set(drivername="postgresql")
    if url.get_backend_name() not in BACKENDS:
        raise ValueError(f"The track database must be PostgreSQL or SQLite, not {url.get_backend_name()}.")
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver bgm installs
    return url


def shown(url: URL) -> str:
    """The URL for messages and logs: never its password."""
    return url.render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0].rstrip(".") if text else type(error).__name__


def unavailable(url: URL, error: BaseException) -> RecordsUnavailable:
    """What a user is told when the database stops answering mid-run (its address only in the log)."""
    log.warning("the track database at %s is not answering: %s", shown(url), _first_line(error))
    return RecordsUnavailable("The track database is not answering; try again in a minute.")


def open_engine(url: URL) -> sa.Engine:
    """An engine on ``url`` with the schema upgraded to the newest revision; blocking (call in a thread)."""
    if url.get_backend_name() == "sqlite" and url.database:
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RecordsUnavailable(f"Cannot open the track database at {shown(url)}: {error}.") from None
    if url.get_backend_name() == "sqlite":
        # Waits up to 30 s for another writer (a second process on the same file) instead of failing.
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_wal)
    else:
        # pre_ping: a connection left from before a PostgreSQL restart is replaced, not handed out broken.
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, connect_args={"connect_timeout": 10})
    try:
        upgrade(engine)
    except (SQLAlchemyError, OSError) as error:  # OSError: a SQLite file that cannot be written
        engine.dispose()
        raise RecordsUnavailable(
            f"Cannot open the track database at {shown(url)}: {_first_line(error)}."
        ) from None
    return engine


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run Alembic's migrations up to ``revision`` on ``engine``'s database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATING, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _sqlite_wal(connection, _record) -> None:
    connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
    connection.execute("PRAGMA foreign_keys=ON")
