"""An S3-compatible store for the song store's tests: moto's server, a real HTTP server in its own
process on a free loopback port, spoken to by boto3 as any bucket would be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from bot.tracks.s3songs import s3_client

KEYS = {"key_id": "testing", "secret": "testing"}  # moto takes any, unless told to check them


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoServer:
    """``moto_server`` on 127.0.0.1; ``check_keys``: every request is checked against moto's IAM."""

    def __init__(self, check_keys: bool = False) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_keys else None
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = subprocess.Popen(command, env=env, **quiet)
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.25)
        self.stop()
        raise RuntimeError("moto_server did not come up")

    def client(self):
        return s3_client(self.url, "us-east-1", KEYS["key_id"], KEYS["secret"])

    def bucket(self) -> str:
        """A new empty bucket: each test has its own."""
        name = f"bgm-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="session")
def s3_store():
    server = MotoServer()
    yield server
    server.stop()
