"""Several model servers behind one target: balanced call by call (gRPC's round_robin), a replica
killed mid-song, and songs pinned to their version while replicas disagree on what they serve."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from bgm import contract
from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest
from composer.errors import ModelChanged
from model_server import EmbeddedServer
from tests.conftest import export_tiny_model
from tests.reliability.conftest import RestartableServe, copy_models

SEEDS = (11, 12, 13)


def target(*servers) -> str:
    """One gRPC name for several replicas, as DNS gives ``dns:///model-server:8500`` in production."""
    return "ipv4:" + ",".join(f"127.0.0.1:{server.port}" for server in servers)


async def compose(address: str, seed: int, **client):
    model = ModelClient(address, **client)
    try:
        return await Composer(model).compose(ComposeRequest("calm", "short", seed=seed))
    finally:
        await model.close()


@pytest.fixture(scope="module")
def two_versions(tiny_models, tmp_path_factory):
    """Folders for a rollout under way: ``old`` serves version 1; ``new`` serves 1 and a different 2."""
    old = copy_models(tiny_models, tmp_path_factory.mktemp("old"))
    new = copy_models(tiny_models, tmp_path_factory.mktemp("new"))
    export_tiny_model(new / "bgm" / "2", seed=1)
    return old, new


def test_calls_are_balanced_over_the_replicas(tiny_models, tmp_path):
    replicas = [EmbeddedServer(copy_models(tiny_models, tmp_path / name)) for name in ("a", "b")]
    for replica in replicas:
        replica.start()
    try:
        song = asyncio.run(compose(target(*replicas), SEEDS[0]))
        calls = [replica.tf_calls("bgm") for replica in replicas]
    finally:
        for replica in replicas:
            replica.stop(grace=0)
    assert song.model_version == 1
    assert min(calls) > 0.3 * sum(calls), calls  # pick_first would send them all to the first


async def predict_metadata(address: str, version: int, times: int) -> None:
    """``times`` Predicts of the metadata signature pinned to ``version``, on one client."""
    client = ModelClient(address)
    try:
        for _ in range(times):
            await client.predict(
                version,
                contract.METADATA_SIGNATURE,
                {contract.DUMMY: np.zeros([1], np.int32)},
                (contract.WINDOW,),
            )
    finally:
        await client.close()


def test_a_pinned_version_is_found_on_the_replica_that_serves_it(two_versions):
    old, new = (EmbeddedServer(root) for root in two_versions)
    old.start(), new.start()
    try:
        # Six calls, each first offered in turn to the replica that has no version 2.
        asyncio.run(predict_metadata(target(old, new), 2, 6))
        with pytest.raises(ModelChanged):  # a version that no replica serves is still reported
            asyncio.run(predict_metadata(target(old, new), 9, 1))
    finally:
        old.stop(grace=0), new.stop(grace=0)
    assert old.tf_calls("bgm", 2) == 0 and new.tf_calls("bgm", 2) == 6


def test_songs_stay_on_their_version_while_replicas_serve_different_ones(two_versions):
    """Each song, wherever its calls land, is the very song its seed makes on its version alone."""
    old, new = (EmbeddedServer(root) for root in two_versions)
    old.start(), new.start()
    try:
        alone = {
            1: [asyncio.run(compose(old.address, seed)) for seed in SEEDS],
            2: [asyncio.run(compose(new.address, seed)) for seed in SEEDS],
        }
        both = [asyncio.run(compose(target(old, new), seed)) for seed in SEEDS]
    finally:
        old.stop(grace=0), new.stop(grace=0)
    assert [song.model_version for song in alone[1]] == [1] * 3
    assert [song.model_version for song in alone[2]] == [2] * 3
    assert alone[1][0].tokens != alone[2][0].tokens  # the two versions compose differently
    for k, song in enumerate(both):
        assert song.tokens == alone[song.model_version][k].tokens


@pytest.fixture
def serve_pair(tiny_models, tmp_path):
    """Two ``bgm serve`` processes over copies of the tiny model, as two TF Serving replicas."""
    pair = [RestartableServe(copy_models(tiny_models, tmp_path / name)) for name in ("a", "b")]
    yield pair
    for server in pair:
        if server.process.poll() is None:
            server.stop()
    shutil.rmtree(tmp_path / "a", ignore_errors=True)


async def test_a_replica_killed_mid_song_and_never_back_the_songs_finish(serve_pair):
    first, second = serve_pair
    reference = await compose(first.address, SEEDS[1])
    client = ModelClient(target(first, second), retry_for=30)
    calls, killed = 0, asyncio.Event()
    original = client._call

    async def call(*args, **kwargs):  # SIGKILL the first replica at the song's 20th call
        nonlocal calls
        calls += 1
        if calls == 20:
            await asyncio.to_thread(first.kill)
            killed.set()
        return await original(*args, **kwargs)

    client._call = call
    try:
        composer = Composer(client)
        song = await composer.compose(ComposeRequest("calm", "short", seed=SEEDS[1]))
        assert killed.is_set() and calls > 20  # killed mid-song, and the song went on
        assert song.tokens == reference.tokens and song.model_version == reference.model_version
        after = await composer.compose(ComposeRequest("calm", "short", seed=SEEDS[2]))  # and the next
        assert after.model_version == 1
    finally:
        await client.close()
    assert first.process.poll() is not None  # it stayed dead: the survivor made all of that
