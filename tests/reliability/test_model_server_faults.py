"""Faults on the serving side: the model server killed mid-song; a corrupt newest model version."""

from __future__ import annotations

import asyncio
import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from tests.fake_discord import FakeDiscord
from tests.reliability.conftest import SONG_S, bot_against, compose, fields, has_song
from training.publish import publish


class KillMidSong:
    """Kill the model server (SIGKILL) at the ``calls``-th call to it: in a song, surely mid-song.

    ``answered_at``: when a call first succeeded after the kill (the client got through again).
    """

    def __init__(self, bot, calls: int, server) -> None:
        self.killed = asyncio.Event()
        self.answered_at: float | None = None
        client, original, seen = bot.model_client, bot.model_client._call, 0

        async def call(*args, **kwargs):
            nonlocal seen
            seen += 1
            if seen == calls:
                await asyncio.to_thread(server.kill)
                self.killed.set()
            result = await original(*args, **kwargs)
            if self.killed.is_set() and self.answered_at is None:
                self.answered_at = time.monotonic()
            return result

        client._call = call  # every Predict goes through it


async def test_a_model_server_killed_mid_song_and_restarted(own_serve, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, own_serve, tmp_path, retry_s=60) as bot:
        connected = len(fake.gateway_events("identify"))

        # Killed at the 20th Predict and back a few seconds later: the song carries on where it was.
        fault = KillMidSong(bot, 20, own_serve)
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "calm", "length": "short", "seed": 4}, user=fake.regular
        )
        await asyncio.wait_for(fault.killed.wait(), SONG_S)
        await asyncio.to_thread(own_serve.restart)
        back_at = time.monotonic()
        await fake.wait_for(lambda: inter.original is not None and has_song(inter.original), SONG_S)
        assert fields(inter.original)["Model version"] == "1" and len(inter.original.attachments) == 3
        assert bot.queue.done == 1 and bot.queue.failed == 0
        # gRPC's default reconnection backoff (up to 120 s) would leave the song waiting long after.
        assert fault.answered_at is not None and fault.answered_at - back_at < 3.0

        # Killed again and left down past the client's retry budget: a clear answer within that deadline.
        bot.model_client.retry_for = 3
        fault = KillMidSong(bot, 20, own_serve)
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "sad", "length": "short"}, user=fake.manager
        )
        await asyncio.wait_for(fault.killed.wait(), SONG_S)
        down_at = time.monotonic()
        message = await fake.wait_for(
            lambda: inter.original is not None and inter.original.content.startswith("❌") and inter.original,
            30,
        )
        told_after = time.monotonic() - down_at
        assert message.content == (
            f"❌ The model server at {own_serve.address} is not answering; try again in a minute."
        )
        assert told_after < 3 + bot.model_client.deadline, told_after

        # Back again: later songs are made as before, by the same bot that never reconnected or restarted.
        await asyncio.to_thread(own_serve.restart)
        bot.model_client.retry_for = 30
        _, song = await compose(fake, fake.admin, mood="happy", length="short", seed=9)
        assert fields(song)["Model version"] == "1"
        assert not bot.is_closed() and len(fake.gateway_events("identify")) == connected
        assert bot.queue.done == 2 and bot.queue.failed == 1


def publish_corrupt(models_root) -> int:
    """A version published the proper way (complete, renamed into place) whose SavedModel is garbage."""

    def write(folder):
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"\x00 not a SavedModel " * 64)
        (folder / "variables" / "variables.index").write_bytes(b"garbage")

    return publish(models_root / "bgm", write)


async def test_a_corrupt_newest_version_is_not_served_and_status_says_why(
    own_serve, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, own_serve, tmp_path) as bot:
        version = await asyncio.to_thread(publish_corrupt, own_serve.models_root)
        assert version == 2

        async def reported():
            return (await bot.model_client.failed_versions()).get(2)

        for _ in range(120):
            if await reported():
                break
            await asyncio.sleep(0.25)
        # The server's own word, as TF Serving gives it: version 2 ended with an error; 1 still serves.
        async with grpc.aio.insecure_channel(own_serve.address) as channel:
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "bgm"
            reply = await model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request)
        states = {s.version: s for s in reply.model_version_status}
        end, available = (
            get_model_status_pb2.ModelVersionStatus.END,
            get_model_status_pb2.ModelVersionStatus.AVAILABLE,
        )
        assert states[2].state == end and states[2].status.error_code != 0
        assert states[1].state == available

        # Songs keep coming from version 1.
        _, song = await compose(fake, fake.regular, mood="calm", length="short", seed=2)
        assert fields(song)["Model version"] == "1"

        # /bgm status names the live version and says why the newer one is not live.
        status = await fake.invoke_slash("bgm status", user=fake.regular)
        embeds = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        shown = {f["name"]: f["value"] for f in embeds[0]["fields"]}
        assert shown["Model version"] == "1" and shown["Model server"] == "serving"
        why = shown["Version 2 not served"]
        assert why.startswith("It failed to load:") and states[2].status.error_message[:100] in why
