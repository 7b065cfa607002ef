"""The real bot (``create_bot``) against the fake Discord, with the embedded server on the tiny model.

Each test runs its own fake Discord and bot; the read-only ones share one ``bgm serve`` process,
while training and the server outage get their own models folder and embedded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import discord
import grpc
import mido
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bot.app import create_bot, model_client
from bot.settings import BotSettings
from model_server import EmbeddedServer
from tests.conftest import write_tunes
from tests.fake_discord import FakeDiscord, Upload, running_bot

SONG_S = 180  # composing and rendering a short song on a busy 2-core machine
TRAIN_ARGS = ["--samples-per-epoch", "256", "--batch-size", "64", "--workers", "1", "--patience", "1"]


def copy_models(tiny_models, folder):
    shutil.copytree(tiny_models / "bgm" / "1", folder / "bgm" / "1")
    return folder


class ServeProcess:
    """``bgm serve`` in its own process, as in production: its TensorFlow work cannot hold the
    bot's GIL, so the event-loop lag measured here is the bot's own."""

    def __init__(self, models_root: Path) -> None:
        self.models_root = models_root
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "cli.main", "serve", "--models", str(models_root)]
        command += ["--port", str(self.port), "--poll-seconds", "0.5"]
        self.process = subprocess.Popen(
            command, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with grpc.insecure_channel(self.address) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            for _ in range(240):
                with contextlib.suppress(grpc.RpcError):
                    if (
                        check(health_pb2.HealthCheckRequest(), timeout=1).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return
                if self.process.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("bgm serve did not come up")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="module")
def shared_server(tiny_models, tmp_path_factory):
    server = ServeProcess(copy_models(tiny_models, tmp_path_factory.mktemp("discord-models")))
    yield server
    server.stop()


@pytest.fixture
def own_server(tiny_models, tmp_path):
    models = copy_models(tiny_models, tmp_path / "models")
    server = EmbeddedServer(models, poll_seconds=0.5)
    server.start()
    yield server
    server.stop(grace=0)


@pytest.fixture
def restore_discord(monkeypatch):
    """``create_bot`` points discord.py at the fake through class attributes: put them back after."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    )


@contextlib.asynccontextmanager
async def bot_against(fake: FakeDiscord, server: EmbeddedServer, data_dir, **overrides):
    values = dict(
        discord_token=fake.token,
        discord_api_base=fake.api_base,
        discord_gateway_url=str(fake.gateway_url),
        guild_ids=[fake.guild.id],
        server=server.address,
        models_dir=server.models_root,
        data_dir=data_dir,
        cooldown_s=0,
        retry_s=2,
        train_command=[sys.executable, "-m", "cli.main", "train"],
        train_args=TRAIN_ARGS,  # a tiny model trains in well under a minute
        train_epochs=1,
        live_wait_s=60,
    )
    settings = BotSettings(**{**values, **overrides})
    client = model_client(settings, server.address)  # as in production: asks for the stable label
    bot = create_bot(settings, client, guild_ready_timeout=0.05)
    try:
        # patch=False: the bot's own DISCORD_API_BASE / DISCORD_GATEWAY_URL settings must find the fake.
        async with running_bot(fake, bot, patch=False, timeout=30):
            yield bot
    finally:
        await client.close()


async def compose(fake, user, timeout=SONG_S, **options):
    inter = await fake.invoke_slash("bgm compose", options=options, user=user)
    await fake.wait_for(
        lambda: inter.original is not None and has_song(inter.original), timeout, what="a song"
    )
    return inter, inter.original


def has_song(message) -> bool:
    """The whole song is in ``message`` (its opening may have come before it, alone)."""
    return any(a.filename.endswith(".mid") for a in message.attachments)


def fields(message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


async def test_commands_are_synced_to_the_guild(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        command = fake.commands[fake.guild.id][("bgm", 1)]
        options = {o["name"]: o for o in command["options"]}
        assert set(options) == {"compose", "status", "train", "model", "radio"}
        assert {o["name"] for o in options["radio"]["options"]} == {"start", "mood", "stop"}
        assert {o["name"] for o in options["train"]["options"]} == {"start", "status", "cancel"}
        assert {o["name"] for o in options["model"]["options"]} == {"list", "promote", "rollback"}
        fake.assert_no_unknown_routes()


async def test_what_the_bot_starts_with_is_left_out_of_full_garbage_collections(
    shared_server, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        frozen = gc.get_freeze_count()  # TensorFlow, discord.py, the bot: walked by no full pass
        assert frozen > 100_000 and len(gc.get_objects()) < frozen / 2


async def test_compose_is_deferred_then_answered_with_midi_audio_and_an_embed(
    shared_server, tmp_path, restore_discord
):
    lags = []

    async def ticker():
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - before - 0.02)

    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        watch = asyncio.create_task(ticker())
        inter, message = await compose(fake, fake.regular, mood="calm", length="short", seed=7)
        watch.cancel()
        measured = list(lags)  # before this test decodes the files on the loop itself
        callback = inter.callback
        assert callback.callback_type == 5 and inter.ack_latency < 3
        assert not message.ephemeral
        # Progress is shown before the song (which stages appear depends on how fast the song is made:
        # the reply is edited at most once a second).
        assert any(revision.content.startswith(("⏳", "🎼", "🎧")) for revision in message.history)
        files = message.files
        assert set(files) == {"bgm-calm-7.mid", "bgm-calm-7.ogg", "bgm-calm-7.png"}
        assert files["bgm-calm-7.png"].startswith(b"\x89PNG\r\n\x1a\n")
        assert message.embeds[0]["image"]["url"] == "attachment://bgm-calm-7.png"  # the piano roll
        assert mido.MidiFile(file=io.BytesIO(files["bgm-calm-7.mid"])).length > 10
        audio, rate = sf.read(io.BytesIO(files["bgm-calm-7.ogg"]))
        assert rate > 0 and len(audio) > rate * 10
        details = fields(message)
        assert (details["Mood"], details["Seed"], details["Model version"]) == ("calm", "7", "1")
        assert details["Tempo"].endswith("bpm") and details["Key"] != "?"
        assert str(fake.regular.user.id) in details["Asked by"]
        assert message.custom_ids == ["bgm:regen:1", "bgm:var:1", "bgm:stems:1"]
        fake.assert_no_unknown_routes()
    # The event loop kept turning while the song was composed and rendered.
    # Rendering or composing on the loop would block it for seconds; 0.5 s leaves room for a busy CI box.
    assert max(measured) < 0.5, f"event loop blocked for {max(measured):.2f} s"


async def test_buttons_post_new_linked_tracks_even_after_a_restart(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake:
        async with bot_against(fake, shared_server, tmp_path):
            _, first = await compose(fake, fake.regular, mood="sad", length="short", seed=11)
        async with bot_against(fake, shared_server, tmp_path):  # a new bot process, the same data folder
            click = await fake.click_button(first, "bgm:var:1", user=fake.manager)
            await fake.wait_for(lambda: click.original is not None and has_song(click.original), SONG_S)
            variation = click.original
            assert variation.id != first.id
            assert fields(variation)["Seed"] == "11 · variation 1"
            assert "Variation of [track #1]" in variation.embeds[0]["description"]
            assert variation.custom_ids == ["bgm:regen:2", "bgm:var:2", "bgm:stems:2"]

            click = await fake.click_button(first, "bgm:regen:1", user=fake.regular)
            await fake.wait_for(lambda: click.original is not None and has_song(click.original), SONG_S)
            regenerated = click.original
            assert fields(regenerated)["Seed"] != "11" and fields(regenerated)["Mood"] == "sad"
            assert "New take on [track #1]" in regenerated.embeds[0]["description"]
        fake.assert_no_unknown_routes()


async def test_a_non_admin_cannot_train(shared_server, tmp_path, restore_discord):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path / "data"):
        inter = await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.regular
        )
        message = await fake.wait_for_response(inter)
        assert message.ephemeral and "Only server admins" in message.content
        await asyncio.sleep(0.2)
        assert not [m for m in fake.channel_messages() if m.interaction is None]
        assert not (tmp_path / "data" / "uploads").exists()


async def test_a_bad_upload_is_refused_with_a_reason(shared_server, tmp_path, restore_discord):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape.mid", b"MThd")
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path / "data") as bot:
        inter = await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload("notes.txt", b"hello")}, user=fake.manager
        )
        message = await fake.wait_for_response(inter)
        assert message.ephemeral and "`notes.txt` is not a music file or zip" in message.content

        inter = await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload("set.zip", buffer.getvalue())}, user=fake.admin
        )
        message = await fake.wait_for_response(inter)
        assert (
            message.ephemeral
            and "unsafe path" in message.content
            and "Nothing was started" in message.content
        )
        assert not bot.retraining.busy
        assert not [m for m in fake.channel_messages() if m.interaction is None]
        assert not (tmp_path / "data" / "uploads").exists()


async def test_an_admin_trains_a_new_version_that_compose_then_uses(own_server, tmp_path, restore_discord):
    tunes = write_tunes(tmp_path / "tunes", count=3)
    files = {f"file{i}": Upload.from_path(path) for i, path in enumerate(tunes, 1)}
    gate = [
        "--gate-data",
        str(tmp_path / "tunes"),
    ]  # the quality gate compares on these, not the whole corpus
    async with (
        FakeDiscord() as fake,
        bot_against(fake, own_server, tmp_path / "data", train_args=[*TRAIN_ARGS, *gate]),
    ):
        inter = await fake.invoke_slash("bgm train start", attachments=files, user=fake.manager)
        started = await fake.wait_for(lambda: inter.followups, 30, what="the training to start")
        assert started[0].ephemeral and "3 music files accepted" in started[0].content
        live = await fake.wait_for_message(
            lambda m: "is live" in m.content and "Model version" in m.content, timeout=300
        )
        assert "Model version 2 is live" in live.content
        progress = next(m for m in fake.channel_messages() if "Training" in m.content)
        assert any("Epoch 1/1" in revision.content for revision in progress.history)
        assert "✅ Version 2 is live" in progress.content
        _, song = await compose(fake, fake.regular, mood="epic", length="short", seed=3)
        assert fields(song)["Model version"] == "2"
        fake.assert_no_unknown_routes()


async def test_a_model_server_outage_is_told_and_survived(own_server, tmp_path, restore_discord):
    port = own_server.port
    async with FakeDiscord() as fake, bot_against(fake, own_server, tmp_path) as bot:
        own_server.stop(grace=0)
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "calm", "length": "short"}, user=fake.regular
        )
        message = await fake.wait_for(
            lambda: (
                inter.original is not None and "not answering" in inter.original.content and inter.original
            ),
            60,
        )
        assert message.content.startswith("❌ The model server") and not message.attachments
        status = await fake.invoke_slash("bgm status", user=fake.regular)
        answer = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        assert any(f["value"] == "not answering" for f in answer[0]["fields"])

        back = EmbeddedServer(own_server.models_root, port=port, poll_seconds=0.5)
        back.start()
        try:
            for _ in range(60):  # the client reconnects with gRPC's backoff
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bot.model_client.metadata(), 2)
                    break
                await asyncio.sleep(0.5)
            _, song = await compose(fake, fake.regular, mood="calm", length="short", seed=5)
            assert set(song.files) == {"bgm-calm-5.mid", "bgm-calm-5.ogg", "bgm-calm-5.png"}
        finally:
            back.stop(grace=0)


async def test_a_song_outliving_its_interaction_token_is_posted_in_the_channel(
    shared_server, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "happy", "length": "short"}, user=fake.regular
        )
        await fake.wait_for_callback(inter)
        fake.expire_interaction(inter)  # as if composing had taken more than 15 minutes
        message = await fake.wait_for_message(
            lambda m: m.attachments and m.interaction is None, timeout=SONG_S
        )
        assert message.content == fake.regular.user.mention
        assert fields(message)["Mood"] == "happy" and len(message.attachments) == 3


async def test_on_shutdown_queued_requesters_are_told(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake:
        async with bot_against(fake, shared_server, tmp_path, queue_concurrency=1) as bot:
            first = await fake.invoke_slash("bgm compose", options={"mood": "calm"}, user=fake.regular)
            second = await fake.invoke_slash("bgm compose", options={"mood": "sad"}, user=fake.manager)
            await fake.wait_for(lambda: bot.queue.waiting == 1 and bot.queue.running == 1, 30)

            def queued():  # whichever request reached the queue second (they race to it)
                shown = [(i, i.original) for i in (first, second)]
                return [i for i, message in shown if message is not None and "position 1" in message.content]

            (waiting,) = await fake.wait_for(queued, 10)
            running = second if waiting is first else first
        # Leaving the block closed the bot: the waiting song was cut, the running one had 5 s to finish.
        assert "not started" in waiting.original.content
        assert running.original.attachments or "restarted while making" in running.original.content


FAKE_TRAIN = [sys.executable, str(Path(__file__).parent / "retraining" / "fake_train.py")]


async def test_training_status_and_cancel(shared_server, tmp_path, restore_discord):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    async with (
        FakeDiscord() as fake,
        bot_against(fake, shared_server, tmp_path / "data", train_command=[*FAKE_TRAIN, "slow"]),
    ):
        await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
        )
        progress = await fake.wait_for_message(lambda m: "Epoch 1/1" in m.content, timeout=30)

        refused = await fake.invoke_slash("bgm train status", user=fake.regular)
        assert "Only server admins" in (await fake.wait_for_response(refused)).content
        status = await fake.invoke_slash("bgm train status", user=fake.manager)
        answer = await fake.wait_for_response(status)
        assert answer.ephemeral and "Epoch 1/1" in answer.content

        busy = await fake.invoke_slash("bgm train start", user=fake.manager)
        assert "already running" in (await fake.wait_for_response(busy)).content

        cancel = await fake.invoke_slash("bgm train cancel", user=fake.manager)
        assert "Stopping" in (await fake.wait_for_response(cancel)).content
        await fake.wait_for(lambda: "cancelled by Manny" in progress.content, 30)
        assert "the live model stays" in progress.content


async def test_a_failed_training_says_why_and_keeps_the_live_model(shared_server, tmp_path, restore_discord):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    async with (
        FakeDiscord() as fake,
        bot_against(fake, shared_server, tmp_path / "data", train_command=[*FAKE_TRAIN, "fail"]),
    ):
        await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
        )
        message = await fake.wait_for_message(lambda m: "❌" in m.content, timeout=30)
        assert "Training failed: No usable music found: all 3 files were skipped." in message.content
        assert "The live model is unchanged." in message.content
        assert sorted(p.name for p in (shared_server.models_root / "bgm").iterdir()) == ["1"]


async def test_closing_the_bot_stops_a_training_and_says_so(shared_server, tmp_path, restore_discord):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    async with FakeDiscord() as fake:
        async with bot_against(
            fake, shared_server, tmp_path / "data", train_command=[*FAKE_TRAIN, "slow"]
        ) as bot:
            await fake.invoke_slash(
                "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
            )
            progress = await fake.wait_for_message(lambda m: "Epoch 1/1" in m.content, timeout=30)
        assert "cancelled by the bot shutting down; the live model stays" in progress.content
        assert not bot.retraining.busy


async def test_bgm_bot_runs_with_an_embedded_server_and_stops_cleanly_on_sigterm(tiny_models, tmp_path):
    """The production entry point: settings from the environment, SIGTERM (docker stop) closes it."""
    import os
    import signal

    models = copy_models(tiny_models, tmp_path / "models")
    async with FakeDiscord() as fake:
        env = {
            **os.environ,
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": str(fake.gateway_url),
            "BGM_GUILD_IDS": str(fake.guild.id),
            "BGM_MODELS_DIR": str(models),
            "BGM_DATA_DIR": str(tmp_path / "data"),
        }
        env.pop("BGM_SERVER", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.main",
            "bot",
            env=env,
            cwd=Path(__file__).parents[2],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await fake.wait_for(lambda: fake.connected and fake.commands.get(fake.guild.id), 120)
            status = await fake.invoke_slash("bgm status", user=fake.regular)
            answer = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
            assert {f["name"]: f["value"] for f in answer[0]["fields"]}["Model version"] == "1"
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = output.decode()
    assert process.returncode == 0, log[-3000:]
    assert fake.token not in log
    assert "INFO bot.app: synced 1 commands to guild" in log and "Traceback" not in log, log[-3000:]


async def test_a_refused_training_shows_the_gate_and_an_admin_can_publish_anyway(
    own_server, tmp_path, restore_discord
):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    async with (
        FakeDiscord() as fake,
        bot_against(fake, own_server, tmp_path / "data", train_command=[*FAKE_TRAIN, "refused"]),
    ):
        await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
        )
        message = await fake.wait_for_message(lambda m: "🛑" in m.content, timeout=60)
        assert "🛑 The quality gate kept the live model: its songs collapse to few pitches" in message.content
        assert "Quality gate: refused — its songs collapse" in message.content
        assert (
            "New vs live (version 1): perplexity 56.14 vs 4.54; pitch-class entropy 0.00 vs 2.70"
            in message.content
        )
        assert sorted(p.name for p in (own_server.models_root / "bgm").iterdir()) == ["1"]

        refused = await fake.click_button(message, "bgm:publish-anyway", user=fake.regular)
        assert "Only server admins" in (await fake.wait_for_response(refused)).content
        click = await fake.click_button(message, "bgm:publish-anyway", user=fake.manager)
        done = await fake.wait_for(lambda: click.followups and click.followups[-1], 120, what="the publish")
        assert done.content.startswith(
            "⚠️ Model version 2 was published anyway by Manny, past the quality gate"
        )
        assert not message.custom_ids  # the button is gone: a candidate is published once
        again = (
            await fake.click_button(done, "bgm:publish-anyway", user=fake.manager)
            if done.custom_ids
            else None
        )
        assert again is None
        _, song = await compose(fake, fake.regular, mood="calm", length="short", seed=2)
        assert fields(song)["Model version"] == "2"
        fake.assert_no_unknown_routes()


async def test_the_songs_opening_is_posted_to_play_before_the_whole_song(
    shared_server, tmp_path, restore_discord
):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path):
        _, message = await compose(fake, fake.regular, mood="calm", length="short", seed=8)
        names = [[a.filename for a in revision.attachments] for revision in message.history]
        early = names.index(["bgm-calm-8-opening.ogg"])
        final = max(i for i, n in enumerate(names) if "bgm-calm-8.ogg" in n)
        assert early < final  # the opening came first, then the song replaced it in the same message
        assert "how it opens" in message.history[early].content
        assert set(message.files) == {"bgm-calm-8.mid", "bgm-calm-8.ogg", "bgm-calm-8.png"}
        opening = next(a for a in message.history[early].attachments if a.filename.endswith("-opening.ogg"))
        played, rate = sf.read(io.BytesIO(opening.data))
        whole, _ = sf.read(io.BytesIO(message.files["bgm-calm-8.ogg"]))
        assert rate == 48000 and 0.2 * len(whole) < len(played) < 0.5 * len(whole)  # 2 of the 6 sections
        fake.assert_no_unknown_routes()


async def test_no_opening_is_posted_when_early_audio_is_off(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path, early_audio=False):
        _, message = await compose(fake, fake.regular, mood="calm", length="short", seed=8)
        assert not any(a.filename.endswith("-opening.ogg") for r in message.history for a in r.attachments)
