"""Faults on the bot's side: its gateway connection dropped; the bot killed with songs in its queue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

from bot.tracks.store import PENDING, Track, TrackStore
from composer.composer import ComposeRequest
from tests.fake_discord import FakeDiscord
from tests.reliability.conftest import ROOT, SONG_S, bot_against, compose, fields, has_song


async def test_a_dropped_gateway_is_resumed_and_commands_work_after(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path) as bot:
        inter = await fake.invoke_slash(
            "bgm compose", options={"mood": "epic", "length": "short", "seed": 8}, user=fake.regular
        )
        await fake.wait_for_callback(inter)

        # A close frame Discord may send at any time, then the connection cut without one.
        await fake.drop_gateway(4000)
        await fake.wait_for(lambda: len(fake.gateway_events("resume")) == 1, 30, what="a RESUME")
        await fake.drop_gateway(None)
        await fake.wait_for(lambda: len(fake.gateway_events("resume")) == 2, 30, what="a second RESUME")

        # The song under way went on (it needs REST only) and commands arrive over the resumed session.
        await fake.wait_for(lambda: inter.original is not None and has_song(inter.original), SONG_S)
        assert fields(inter.original)["Seed"] == "8"
        status = await fake.invoke_slash("bgm status", user=fake.manager)
        await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        _, song = await compose(fake, fake.manager, mood="calm", length="short", seed=3)
        assert fields(song)["Seed"] == "3"
        assert len(fake.gateway_events("identify")) == 1 and not bot.is_closed()


def bot_environment(fake: FakeDiscord, server, data_dir) -> dict[str, str]:
    env = {
        **os.environ,
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": str(fake.gateway_url),
        "BGM_GUILD_IDS": str(fake.guild.id),
        "BGM_SERVER": server.address,
        "BGM_MODELS_DIR": str(server.models_root),
        "BGM_DATA_DIR": str(data_dir),
        "BGM_QUEUE_CONCURRENCY": "1",
        "BGM_COOLDOWN_S": "0",
    }
    return env


async def test_songs_queued_when_the_bot_is_killed_are_made_after_it_restarts(
    shared_server, tmp_path, restore_discord
):
    data = tmp_path / "data"
    async with FakeDiscord() as fake:
        # `bgm bot` as in production, in its own process group so that the kill takes its workers too.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli.main",
            "bot",
            env=bot_environment(fake, shared_server, data),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            await fake.wait_for(lambda: fake.connected and fake.commands.get(fake.guild.id), 120)
            users = [fake.regular, fake.manager, fake.admin]
            asked = [
                await fake.invoke_slash("bgm compose", options={"mood": mood, "length": "short"}, user=user)
                for mood, user in zip(("calm", "sad", "happy"), users, strict=True)
            ]

            # One song composing, two waiting (one at a time): then the bot is killed, no goodbye.
            def queued():
                return [i for i in asked if i.original is not None and "position" in i.original.content]

            await fake.wait_for(lambda: len(queued()) == 2, 60, what="two songs queued")
            waiting = queued()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        assert not any(i.original.attachments for i in waiting)

        # A request left from long before the restart: told, not made.
        store = await TrackStore(data / "tracks.sqlite3").open()
        old = await store.add(
            Track(
                fake.owner.user.id,
                "Owner",
                fake.guild.id,
                fake.channel.id,
                ComposeRequest("tense", "short"),
                created_at=time.time() - 2 * 3600,
            )
        )
        assert len(await store.unfinished()) >= 3  # the two waiting, the old one, maybe the running one
        await store.close()

        async with bot_against(fake, shared_server, data) as bot:

            def answered(inter) -> bool:
                mention = f"<@{inter.user.id}>"
                posted = [m for m in fake.channel_messages() if m.interaction is None and m.attachments]
                return has_song(inter.original) or any(m.content.startswith(mention) for m in posted)

            await fake.wait_for(lambda: all(answered(i) for i in asked), 2 * SONG_S, what="every song")
            for inter in waiting:
                mention = inter.user.mention
                song = next(m for m in fake.channel_messages() if m.attachments and m.content == mention)
                assert len(song.attachments) == 3 and fields(song)["Asked by"] == mention
            lost = next(m for m in fake.channel_messages() if m.content.startswith(fake.owner.user.mention))
            assert "was lost" in lost.content and "/bgm compose" in lost.content
            # The "being made again" notices go once their song is posted, and nothing is left pending.
            notices = [m for m in fake.messages.values() if "made again" in m.content]
            assert len(notices) >= 2 and all(m.content.startswith("<@") for m in notices)
            await fake.wait_for(lambda: all(m.deleted for m in notices), 10, what="the notices deleted")
            for _ in range(50):
                if not await bot.store.unfinished():
                    break
                await asyncio.sleep(0.2)
            assert await bot.store.unfinished() == []
            assert (await bot.store.get(old.id)).state != PENDING


async def test_a_render_worker_killed_does_not_break_later_songs(shared_server, tmp_path, restore_discord):
    async with FakeDiscord() as fake, bot_against(fake, shared_server, tmp_path) as bot:
        _, first = await compose(fake, fake.regular, mood="calm", length="short", seed=1)
        pool = bot.renderer
        broken = pool.executor
        for pid in pool.pids:  # as the OOM killer would: the pool is broken for good
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        _, second = await compose(fake, fake.manager, mood="calm", length="short", seed=1)
        assert pool.executor is not broken and bot.tracks.renderer is pool
        # The same song (same seed, same model), rendered by the new workers, audio included.
        assert set(second.files) == {"bgm-calm-1.mid", "bgm-calm-1.ogg", "bgm-calm-1.png"}
        assert second.files["bgm-calm-1.mid"] == first.files["bgm-calm-1.mid"]
        assert bot.queue.failed == 0
