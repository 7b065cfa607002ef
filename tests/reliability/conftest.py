"""Shared pieces for the reliability tests: the bot against the fake Discord and ``bgm serve``.

The helpers come from tests/bot/test_discord.py (``bot_against``, ``ServeProcess``...), imported
rather than copied; ``RestartableServe`` adds what a fault test needs: a hard kill and a restart on
the same port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.bot.test_discord import (  # noqa: F401 (fixtures used by the tests here)
    SONG_S,
    ServeProcess,
    bot_against,
    compose,
    copy_models,
    fields,
    has_song,
    restore_discord,
    shared_server,
)

ROOT = Path(__file__).parents[2]


class RestartableServe(ServeProcess):
    """``bgm serve`` that a test can kill -9 and bring back on the same port."""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def restart(self, timeout: float = 120.0) -> float:
        """Start it again on its port; seconds until it answers health checks as SERVING."""
        began = time.monotonic()
        command = [sys.executable, "-m", "cli.main", "serve", "--models", str(self.models_root)]
        command += ["--port", str(self.port), "--poll-seconds", "0.5"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with grpc.insecure_channel(self.address) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            while time.monotonic() - began < timeout and self.process.poll() is None:
                with contextlib.suppress(grpc.RpcError):
                    reply = check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.monotonic() - began
                time.sleep(0.2)
        raise RuntimeError("bgm serve did not come back")


@pytest.fixture
def own_serve(tiny_models, tmp_path):
    """A ``bgm serve`` process of this test's own, on a copy of the tiny model."""
    server = RestartableServe(copy_models(tiny_models, tmp_path / "models"))
    yield server
    if server.process.poll() is None:
        server.stop()
