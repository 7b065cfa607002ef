"""``bgm worker`` says what it lacks in one line, before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def worker(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BGM_", "DISCORD_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=tmp_path,  # no .env from the working folder
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_redis_the_worker_says_so(tmp_path):
    done = worker(tmp_path, DISCORD_TOKEN="x")
    assert done.returncode == 2
    assert done.stderr.strip() == "bgm worker: set BGM_REDIS_URL (the queue the bots put songs in)."


def test_without_a_token_the_worker_says_so(tmp_path):
    done = worker(tmp_path, BGM_REDIS_URL="redis://127.0.0.1:1/0")
    assert done.returncode == 2
    assert done.stderr.strip() == "bgm worker: set DISCORD_TOKEN (the worker posts the songs it makes)."
