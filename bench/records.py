"""What a song costs the track record in PostgreSQL: rows, bytes and statements, and their time.

    python bench/records.py [--songs 2000]

Starts its own PostgreSQL (Debian's binaries, as the tests do), records ``--songs`` tracks through
``TrackStore`` the way the bot does for a posted song (``add`` when asked: an INSERT and the root
id's UPDATE in one transaction; ``update`` when posted: one UPDATE with the result), and prints the
table's growth per song (heap, indexes and TOAST; before and after VACUUM FULL, since each UPDATE
leaves a dead row until autovacuum) and the mean time per song's statements.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from bot.tracks.store import POSTED, Track, TrackStore
from composer.composer import ComposeRequest
from tests.postgres import Postgres

GUILD, CHANNEL = 987654321098765432, 876543210987654321  # Discord-sized ids
USER, MESSAGE = 123456789012345678, 1234567890123456789


async def measure(songs: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bgm-bench-pg-"))
    server = Postgres(folder)
    server.start()
    try:
        url = server.create_database()
        conninfo = f"host=127.0.0.1 port={server.port} user=bgm dbname={url.rsplit('/', 1)[1]}"
        store = await TrackStore(url).open()

        def table_bytes() -> int:
            with psycopg.connect(conninfo) as connection:
                return connection.execute("SELECT pg_total_relation_size('tracks')").fetchone()[0]

        before, began = table_bytes(), time.perf_counter()
        for k in range(songs):  # a medium song with a Discord-sized user, guild, channel and message
            request = ComposeRequest("calm", "medium", seed=k)
            track = await store.add(Track(USER + k, f"user{k}", GUILD, CHANNEL, request))
            await store.update(
                track.id,
                request=request,
                model_version=4,
                key="D minor",
                tempo=72,
                seconds=61.5,
                message_id=MESSAGE + k,
                jump_url=f"https://discord.com/channels/{GUILD}/{CHANNEL}/{MESSAGE + k}",
                state=POSTED,
            )
        took = time.perf_counter() - began
        grown = table_bytes() - before
        await store.close()
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("VACUUM FULL tracks")
        compacted = table_bytes()
        return {
            "rows_per_song": 1,
            "bytes_per_song": grown / songs,
            "bytes_per_song_vacuumed": compacted / songs,
            "transactions_per_song": 2,
            "ms_per_song": took / songs * 1000,
        }
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=2000)
    figures = asyncio.run(measure(parser.parse_args().songs))
    for name, value in figures.items():
        print(f"{name:>26}: {value:,.1f}")


if __name__ == "__main__":
    main()
