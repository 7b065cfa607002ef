"""The scaled-out bot, all real: ``bgm bot`` processes on shards of the fake Discord, ``bgm worker``
processes, a redis-server and ``bgm serve`` on the tiny model, talking over loopback.

Each song must reach its requester once, whichever worker made it, whatever died meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.jobs.shared_queue import PREFIX, SharedQueue, connect
from tests.bot.test_discord import SONG_S, ServeProcess, copy_models
from tests.fake_discord import FakeDiscord

ROOT = Path(__file__).parents[3]


@pytest.fixture(scope="module")
def model_server(tiny_models, tmp_path_factory):
    server = ServeProcess(copy_models(tiny_models, tmp_path_factory.mktemp("scale-models")))
    yield server
    server.stop()


class Cluster:
    """Bots and workers as processes (each in its own process group: killing one kills its render
    workers too, as when a container dies), all against one fake Discord and one Redis."""

    def __init__(self, fake: FakeDiscord, redis_url: str, server: ServeProcess, folder: Path) -> None:
        self.fake, self.folder = fake, folder
        self.env = {
            **os.environ,
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": str(fake.gateway_url),
            "BGM_SERVER": server.address,
            "BGM_MODELS_DIR": str(server.models_root),
            "BGM_DATA_DIR": str(folder / "data"),
            "BGM_REDIS_URL": redis_url,
            "BGM_COOLDOWN_S": "0",
            "BGM_QUEUE_MAX": "50",
            "BGM_QUEUE_PER_USER": "3",
            "BGM_QUEUE_CONCURRENCY": "2",
            "BGM_JOB_LEASE_S": "3",
        }
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, role: str, name: str, **env: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", role],
            cwd=ROOT,
            env={**self.env, "BGM_GUILD_IDS": ",".join(map(str, self.fake.guilds)), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))
        return process

    async def bot(self, name: str, serving=None, **env: str) -> None:
        """A ``bgm bot``, once the shard that gets ``serving``'s events (default: the fake's guild) is up."""
        guild = serving or self.fake.guild
        self.start("bot", name, **env)

        def up() -> bool:
            session = self.fake.session_for(guild.id)
            return session is not None and session.connection is not None and self.fake.commands.get(guild.id)

        await self.fake.wait_for(up, 120, what=f"{name} to connect")

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the whole process group: nothing gets to clean up."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.folder / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name, _ in self.processes
        )

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
async def cluster(model_server, redis_server, tmp_path):
    async with FakeDiscord() as fake:
        scale = Cluster(fake, redis_server.url, model_server, tmp_path)
        try:
            yield scale
        except BaseException:
            print(scale.logs())
            raise
        finally:
            scale.stop()


def songs_in(fake: FakeDiscord) -> list:
    """Every message holding a song, in any channel of any guild."""
    return [m for m in fake.messages.values() if any(a.filename.endswith(".mid") for a in m.attachments)]


async def until(check, timeout: float) -> None:
    """Wait for an async ``check()`` to be true (a state of Redis), else fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, f"still not true after {timeout} s: {check}"
        await asyncio.sleep(0.1)


async def compose(fake: FakeDiscord, member, mood: str = "calm"):
    return await fake.invoke_slash("bgm compose", options={"mood": mood, "length": "short"}, user=member)


async def answered(fake: FakeDiscord, interactions, timeout: float) -> None:
    def missing():
        return [i for i in interactions if i.original is None or not i.original.attachments]

    try:
        await fake.wait_for(lambda: not missing(), timeout, what=f"{len(interactions)} songs")
    except TimeoutError:
        told = [(i.user.username, i.original and i.original.content, i.events) for i in missing()]
        raise AssertionError(f"{len(told)} of {len(interactions)} unanswered: {told}") from None


async def test_two_shards_and_two_workers_answer_twenty_composes_once_each(cluster):
    fake = cluster.fake
    first = (fake.guild.id >> 22) % 2
    other = fake.add_guild("second guild", channels=("general",), shard=(1 - first, 2))
    await cluster.bot(f"bot-shard-{first}", fake.guild, BGM_SHARD_IDS=str(first), BGM_SHARD_COUNT="2")
    await cluster.bot(f"bot-shard-{1 - first}", other, BGM_SHARD_IDS=str(1 - first), BGM_SHARD_COUNT="2")
    sessions = {fake.session_for(fake.guild.id), fake.session_for(other.id)}
    assert {tuple(s.shard) for s in sessions} == {(0, 2), (1, 2)}  # one process per shard
    cluster.start("worker", "worker-1")
    cluster.start("worker", "worker-2")

    members = [fake.add_member(f"user{n}", guild=fake.guild if n % 2 else other) for n in range(10)]
    asked = [await compose(fake, member, mood) for member in members for mood in ("calm", "sad")]
    await answered(fake, asked, SONG_S * 2)

    songs = songs_in(fake)
    assert len(songs) == 20 and {s.id for s in songs} == {i.original.id for i in asked}
    for inter in asked:  # each in its own guild's channel, with buttons for its own track
        assert inter.original.channel_id == inter.channel_id
    track_buttons = {i.original.custom_ids[0] for i in asked}
    assert len(track_buttons) == 20

    # A button works in the other shard's guild too: the track is found, the new song is made.
    song = next(i.original for i in asked if i.guild_id == other.id)
    click = await fake.click_button(song, song.custom_ids[0], user=members[0])
    await answered(fake, [click], SONG_S)
    assert "New take on" in click.original.embeds[0]["description"]
    assert len(songs_in(fake)) == 21


async def test_a_song_whose_worker_is_killed_is_made_by_another_and_posted_once(cluster, redis_server):
    fake = cluster.fake
    await cluster.bot("bot")
    doomed = cluster.start("worker", "worker-doomed")
    inter = await compose(fake, fake.regular)
    watcher = connect(redis_server.url)
    try:
        await until(lambda: watcher.hlen(PREFIX + "running"), SONG_S)  # mid-song: the ticket is taken
        assert not inter.original.attachments
        cluster.kill(doomed)
        cluster.start("worker", "worker-rescue")
        await answered(fake, [inter], SONG_S)

        async def freed():  # its place, once the post is done
            return await SharedQueue(watcher).counts() == (0, 0)

        await until(freed, 60)
    finally:
        await watcher.aclose()
    assert len(songs_in(fake)) == 1
    assert [len(e.files) for e in inter.events if e.files] == [3]  # one post: midi, audio, piano roll


async def test_songs_acknowledged_before_a_redis_crash_are_all_made(cluster, redis_server):
    fake = cluster.fake
    await cluster.bot("bot")
    members = [fake.add_member(f"user{n}") for n in range(4)]
    asked = [await compose(fake, member) for member in members]
    watcher = connect(redis_server.url)
    try:

        async def all_queued():  # acknowledged: every ticket is in Redis
            return (await SharedQueue(watcher).counts())[0] == 4

        await until(all_queued, 60)
        status = await fake.invoke_slash("bgm status", user=fake.regular)  # every bot sees Redis's queue
        answer = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        assert {f["name"]: f["value"] for f in answer[0]["fields"]}["Queue"] == "0 composing, 4 waiting"
        redis_server.restart()  # kill -9; appendfsync always kept what was acknowledged
        assert (await SharedQueue(watcher).counts())[0] == 4
    finally:
        await watcher.aclose()
    cluster.start("worker", "worker")
    late = await compose(fake, fake.add_member("late"))  # the bot carries on with the new Redis
    await answered(fake, [*asked, late], SONG_S * 2)
    assert len(songs_in(fake)) == 5
