"""``bgm worker``: makes the songs that bots queued in Redis, and posts them.

Each arq job is a slot (see ``bot.jobs.shared_queue``): it takes the next ticket in fair order,
composes and renders the song with this process's model client and render workers, posts it over
the requester's interaction webhook, and frees the place. While a song is made the worker renews
arq's in-progress key every third of ``job_lease_s``; a worker killed mid-song stops renewing, and
another runs the slot again within ``job_lease_s``, resuming the same ticket. A track already posted
is not made again, and the post itself is idempotent (``bot.jobs.posting``).

The worker is a Discord REST client only (``login``, no gateway): it needs the bot's token, not a shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import discord
from arq.constants import in_progress_key_prefix
from arq.worker import Retry, Worker, func
from redis.exceptions import RedisError

from bot.app import apply_endpoints, model_client
from bot.jobs.posting import AlreadyPosted, WebhookReply
from bot.jobs.shared_queue import JOB_FUNCTION, PREFIX, QueueUnavailable, SharedQueue, connect
from bot.jobs.song_job import SongJob
from bot.settings import BotSettings
from bot.tracks.maker import SOMETHING_WRONG, TrackMaker
from bot.tracks.queue import JobQueue
from bot.tracks.s3songs import song_store
from bot.tracks.store import PENDING, TrackStore
from composer.client import ModelClient
from composer.composer import Composer
from composer.render_pool import RenderPool

log = logging.getLogger(__name__)
POSTED_KEY_S = 7 * 24 * 3600  # how long a track's channel-post claim is kept


class SongWorker:
    """What one ``bgm worker`` process holds: the queue, the store, a REST client, the track maker."""

    def __init__(self, settings: BotSettings, client: ModelClient) -> None:
        self.settings = settings
        self.redis = connect(settings.redis_url)
        self.queue = SharedQueue(self.redis, settings.queue_max, settings.queue_per_user, settings.cooldown_s)
        self.store = TrackStore(settings.records)
        self.discord = discord.Client(intents=discord.Intents.none())
        self.model_client = client
        self.renderer: RenderPool | None = None
        self.maker: TrackMaker | None = None

    async def open(self) -> None:
        await self.store.open()
        apply_endpoints(self.settings)  # a Discord-compatible proxy, as the bot uses
        await self.discord.login(self.settings.discord_token.get_secret_value())
        cache = self.settings.data_dir / "cache"
        self.renderer = RenderPool(self.settings.queue_concurrency, cache_dir=cache)
        # The maker's own queue is never used here: the worker runs what the shared queue hands it.
        self.maker = TrackMaker(
            self.settings,
            Composer(self.model_client),
            self.store,
            JobQueue(),
            self.renderer,
            songs=song_store(self.settings),  # the bots' store: Stems finds a song wherever it was made
        )

    async def close(self) -> None:
        await self.discord.close()
        await self.store.close()
        if self.renderer is not None:
            self.renderer.close()
        with contextlib.suppress(RedisError):
            await self.redis.aclose()

    async def make_track(self, ctx: dict) -> str:
        """The arq job: one ticket, from the queue to the channel."""
        slot = ctx["job_id"]
        keeper = asyncio.create_task(self._keep_lease(slot))
        try:
            try:
                taken = await self.queue.take(slot)
            except QueueUnavailable as error:  # arq runs the slot again shortly: no ticket is stranded
                raise Retry(defer=1) from error
            if taken is None:
                return "nothing waiting"
            started, took = time.monotonic(), None
            if await self._make(SongJob.from_dict(taken.payload)):
                took = time.monotonic() - started
        finally:
            keeper.cancel()
        for _ in range(60):  # the place must be freed, even across a Redis restart
            try:
                await self.queue.finish(slot, taken.user, took)
                break
            except QueueUnavailable:
                await asyncio.sleep(1)
        return f"ticket {taken.ticket}"

    async def _make(self, job: SongJob) -> bool:
        track = await self.store.get(job.track_id)
        if track is None or track.state != PENDING:  # a retried slot whose song was posted already
            return False
        parent = await self.store.get(track.parent_id) if track.parent_id else None
        reply = WebhookReply(
            self.discord,
            job,
            track.channel_id,
            track.guild_id,
            f"<@{track.user_id}>",
            lambda: self._claim(track.id),
        )
        try:
            timeout = self.settings.job_timeout_s
            return await self.maker.make_now(reply, track, parent, job.upload_limit, timeout)
        except AlreadyPosted:
            return False
        except Exception:  # the post itself failed (the channel is gone...): said if it can be
            log.exception("posting track %s failed", track.id)
            with contextlib.suppress(discord.HTTPException, AlreadyPosted):
                await reply.finish(f"❌ {SOMETHING_WRONG}")
            await self.store.update(track.id, state="failed")
            return False

    async def _claim(self, track_id: int) -> bool:
        return bool(await self.redis.set(f"{PREFIX}posted:{track_id}", b"1", nx=True, ex=POSTED_KEY_S))

    async def _keep_lease(self, slot: str) -> None:
        lease_ms = int(self.settings.job_lease_s * 1000)
        while True:
            with contextlib.suppress(RedisError):  # Redis away a moment: the next renewal may land
                await self.redis.pexpire(in_progress_key_prefix + slot, lease_ms)
            await asyncio.sleep(self.settings.job_lease_s / 3)

    def arq_worker(self) -> Worker:
        worker = Worker(
            functions=[func(self.make_track, name=JOB_FUNCTION, max_tries=1000)],
            redis_pool=self.redis,
            max_jobs=self.settings.queue_concurrency,
            # arq's own deadline is a backstop; the song's is job_timeout_s, told to its requester.
            job_timeout=self.settings.job_timeout_s + 60,
            keep_result=0,
            poll_delay=0.2,
            handle_signals=False,
        )
        # arq holds a job for its whole timeout plus 10 s; a lease is what a dead worker leaves behind.
        worker.in_progress_timeout_s = self.settings.job_lease_s
        return worker


async def work(settings: BotSettings, client: ModelClient, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; Redis going away pauses the worker, it does not end it."""
    worker = SongWorker(settings, client)
    await worker.open()
    arq = worker.arq_worker()
    try:
        while not stop.is_set():
            main = asyncio.create_task(arq.main())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if main.done():
                stopped.cancel()
                try:
                    main.result()
                except RedisError as error:
                    log.warning("Redis is not answering (%s); trying again in 1 s", error)
                    await asyncio.sleep(1)
            else:
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await main
    finally:
        # Songs under way get a moment to finish; the rest are run again by another worker.
        if arq.tasks:
            await asyncio.wait(list(arq.tasks.values()), timeout=5)
        with contextlib.suppress(RedisError):
            await arq.close()
        await worker.close()


def run(settings: BotSettings, target: str) -> int:
    """``bgm worker`` against the model server at ``target``: until SIGINT or SIGTERM."""

    async def main() -> None:
        client = model_client(settings, target)  # grpc.aio binds its channel to the running loop
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await work(settings, client, stop)
        finally:
            await client.close()

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        log.error("Discord refused the token in DISCORD_TOKEN")
        return 2
    return 0
