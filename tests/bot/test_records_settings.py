"""``bgm bot`` and a track database that is misconfigured or down: one sentence, exit status 2."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.fake_discord import FakeDiscord

ROOT = Path(__file__).parents[2]


def test_a_database_url_of_another_kind_stops_bgm_bot_in_one_line(tmp_path):
    env = {**os.environ, "DISCORD_TOKEN": "x", "BGM_DATABASE_URL": "mysql://bgm@db/bgm", "BGM_SERVER": "h:1"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bgm bot: BGM_DATABASE_URL: The track database must be PostgreSQL or SQLite, not mysql."
    ]


async def test_a_database_that_is_down_at_start_is_logged_once_and_the_bot_exits(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    async with FakeDiscord() as fake:
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": str(fake.gateway_url),
            "BGM_SERVER": "127.0.0.1:1",
            "BGM_DATA_DIR": str(tmp_path),
            "BGM_SYNC_COMMANDS": "false",
            "BGM_DATABASE_URL": f"postgresql://bgm:secret@127.0.0.1:{port}/bgm",
        }
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "bot", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(bot.communicate(), 120)
    errors = [line for line in stderr.decode().splitlines() if " ERROR " in line]
    assert bot.returncode == 2, stderr.decode()
    assert len(errors) == 1 and "secret" not in stderr.decode() and "Traceback" not in stderr.decode()
    assert (
        f"Cannot open the track database at postgresql+psycopg://bgm:***@127.0.0.1:{port}/bgm: " in errors[0]
    )
