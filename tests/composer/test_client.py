"""The client's version label: a new song starts on the labelled version and finishes on it."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest
from lifecycle.config import CONFIG_NAME, ModelEntry, Policy, write
from model_server import EmbeddedServer


def label(root, stable: int) -> None:
    write(root / CONFIG_NAME, {"bgm": ModelEntry("bgm", "/models/bgm", Policy("all"), {"stable": stable})})


@pytest.fixture
def two_versions(tiny_models, tmp_path):
    """Versions 1 and 2 (the tiny model twice), stable = 1, the config re-read every 0.1 s."""
    root = tmp_path / "models"
    for version in ("1", "2"):
        shutil.copytree(tiny_models / "bgm" / "1", root / "bgm" / version)
    label(root, 1)
    server = EmbeddedServer(
        root, poll_seconds=0.1, model_config_file=root / CONFIG_NAME, config_poll_seconds=0.1
    )
    server.start()
    yield server
    server.stop(grace=0)


def wait_for_label(server, version: int) -> None:
    deadline = time.monotonic() + 30
    while server.repository.labels("bgm").get("stable") != version:
        assert time.monotonic() < deadline, "the server did not apply the label"
        time.sleep(0.05)


def test_the_labelled_version_starts_a_song_and_no_label_means_latest(two_versions):
    async def run():
        labelled = ModelClient(two_versions.address, version_label="stable")
        latest = ModelClient(two_versions.address)
        try:
            return (await labelled.metadata()).version, (await latest.metadata()).version
        finally:
            await labelled.close()
            await latest.close()

    assert asyncio.run(run()) == (1, 2)


def test_a_song_in_progress_finishes_on_its_version_when_the_label_moves(two_versions):
    class MovesTheLabelMidSong(ModelClient):
        moved = False

        async def predict(self, version, signature, inputs, outputs):
            if not self.moved:  # after the song has pinned its version: promote version 2
                self.moved = True
                label(two_versions.models_root, 2)
                await asyncio.to_thread(wait_for_label, two_versions, 2)
            return await super().predict(version, signature, inputs, outputs)

    async def run():
        client = MovesTheLabelMidSong(two_versions.address, version_label="stable")
        try:
            first = await Composer(client).compose(ComposeRequest("calm", "short", seed=3))
            second = await Composer(client).compose(ComposeRequest("calm", "short", seed=3))
        finally:
            await client.close()
        return client.moved, first, second

    moved, first, second = asyncio.run(run())
    assert moved and first.model_version == 1 and second.model_version == 2


def test_a_server_without_labels_serves_its_latest_version(tiny_models):
    async def run(address):
        client = ModelClient(address, version_label="stable")
        try:
            return (await client.metadata()).version
        finally:
            await client.close()

    with EmbeddedServer(tiny_models) as server:
        assert asyncio.run(run(server.address)) == 1
