"""A real PostgreSQL for the tests, from Debian's binaries: one server per test session, a fresh
database per test.

PostgreSQL refuses to run as root, so as root (CI containers) initdb and pg_ctl run as the
``postgres`` user in a temporary folder it owns. It listens on a free loopback port and keeps its
socket in that folder, so it never meets a system PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Postgres:
    """``initdb`` + ``pg_ctl start`` in ``folder``; ``url(db)`` for SQLAlchemy."""

    def __init__(self, folder: Path) -> None:
        if not BINARIES:
            pytest.fail("PostgreSQL is not installed (scripts/setup.sh installs Debian's postgresql)")
        self.bin = Path(BINARIES[-1])
        self.folder, self.port = folder, _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else None
        self._names = itertools.count(1)
        if self.as_root:
            shutil.chown(folder, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "bgm", "--no-sync")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.folder / "log"),
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://bgm@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, *args) -> None:
        """Run ``sql`` as the superuser, outside any transaction."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=bgm dbname=postgres", autocommit=True
        ) as c:
            c.execute(sql, args or None)

    def create_database(self) -> str:
        """A new empty database: its URL."""
        name = f"test{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the whole test session."""
    folder = Path(tempfile.mkdtemp(prefix="bgm-pg-"))
    server = Postgres(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def records_location(request, tmp_path) -> str | Path:
    """Where a track store keeps its records: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "tracks.sqlite3"
    return request.getfixturevalue("postgres").create_database()
