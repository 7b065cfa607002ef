"""The bot's composition root: ``BgmBot`` builds every part once, wires them, and closes what it owns.

``create_bot`` makes one for a model client; ``run`` is ``bgm bot`` (the CLI passes in how to start
a local model server when there is no ``BGM_SERVER``: the bot itself never imports one).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from redis.exceptions import RedisError

from bgm.errors import BgmError
from bot.cog import BgmCog
from bot.jobs.shared_queue import SharedQueue, connect
from bot.radio.commands import RadioCommands
from bot.radio.radios import Radios
from bot.radio.session import RadioKit
from bot.retraining.buttons import PublishAnywayButton
from bot.retraining.flow import RetrainFlow
from bot.retraining.runner import TrainingRunner
from bot.settings import BotSettings
from bot.tracks.buttons import RemixButton
from bot.tracks.maker import TrackMaker
from bot.tracks.queue import JobQueue
from bot.tracks.s3songs import S3Songs, song_store
from bot.tracks.songs import SongsUnavailable, prune
from bot.tracks.store import RecordsUnavailable, TrackStore
from bot.versions.flow import ModelVersions
from composer import monitoring
from composer.client import ModelClient
from composer.composer import Composer
from composer.render_pool import RenderPool

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UNEXPECTED = "❌ Something went wrong; it has been logged."
LocalServer = Callable[[], AbstractContextManager[str]]  # a model server for the bot's lifetime: its address


def apply_endpoints(settings: BotSettings) -> None:
    """Point discord.py at a Discord-compatible proxy: it has no setting, only these class attributes."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base  # webhooks (interaction replies) use Route too
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def model_client(settings: BotSettings, target: str) -> ModelClient:
    return ModelClient(
        target,
        settings.model_name,
        deadline=settings.deadline_s,
        retry_for=settings.retry_s,
        version_label=settings.version_label,
    )


class BgmBot(commands.Bot):
    """Owns the track store, the queue, the render workers, the track maker and the retraining flow,
    and the model client when ``owns_client``; the cog and the buttons are handed what they use."""

    def __init__(self, settings: BotSettings, client: ModelClient, owns_client: bool, **options) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # guild and role names for the admin check; no message content needed
        intents.voice_states = True  # who is in which voice channel: the radio (not a privileged intent)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **options,
        )
        self.settings, self.model_client, self._owns_client = settings, client, owns_client
        self.store = TrackStore(settings.records)
        # With Redis, songs wait there for `bgm worker`s; the local queue keeps only stems jobs.
        self.shared = None
        if settings.redis_url:
            self.shared = SharedQueue(
                connect(settings.redis_url), settings.queue_max, settings.queue_per_user, settings.cooldown_s
            )
        self.queue = JobQueue(
            settings.queue_concurrency, settings.queue_max, settings.queue_per_user, settings.cooldown_s
        )
        runner = TrainingRunner(
            settings.train_command,
            settings.models_dir,
            settings.data_dir / "training",
            settings.train_args,
            settings.train_timeout_s,
        )
        self.retraining = RetrainFlow(settings, client, runner)
        self.versions = ModelVersions(settings, client)
        # Made in setup_hook, once the bot starts: render workers are processes, the store a file.
        self.renderer: RenderPool | None = None
        self.tracks: TrackMaker | None = None
        self.radios: Radios | None = None
        self.started = time.monotonic()
        self._closing = False
        self._pruning: asyncio.Task | None = None

    async def setup_hook(self) -> None:
        await self.store.open()
        cache = self.settings.data_dir / "cache"  # the workers' library caches: nothing in the home folder
        self.renderer = RenderPool(1 if self.shared else self.settings.queue_concurrency, cache_dir=cache)
        songs = song_store(self.settings)
        if isinstance(songs, S3Songs):  # a wrong bucket or key said once, now, not at the first song
            try:
                await songs.check()
            except SongsUnavailable as error:
                log.error("%s Songs will be posted but not kept for Stems until it answers.", error)
        self.tracks = TrackMaker(
            self.settings,
            Composer(self.model_client),
            self.store,
            self.queue,
            self.renderer,
            songs=songs,
            shared=self.shared,
        )
        cog = BgmCog(
            self.model_client,
            self.store,
            self.queue,
            self.tracks,
            self.retraining,
            self.versions,
            self.started,
        )
        radio_dir = self.settings.data_dir / "radio"
        self.radios = Radios(RadioKit(self.settings, Composer(self.model_client), self.renderer, radio_dir))
        cog.radios = self.radios
        monitoring.watch_queue(lambda: self.queue.waiting, lambda: self.queue.running)
        monitoring.watch_radios(lambda: len(self.radios.sessions))
        cog.app_command.add_command(RadioCommands(self.radios))  # /bgm radio ...
        await self.add_cog(cog)
        # Songs a killed predecessor left queued: made again (or their requesters told), over REST.
        # With Redis they are still queued there, and the workers make them.
        if self.shared is None:
            await self.tracks.recover(
                lambda track: self.get_partial_messageable(track.channel_id, guild_id=track.guild_id)
            )
        self.add_dynamic_items(RemixButton)  # a click goes to self.tracks
        self.add_dynamic_items(PublishAnywayButton)  # ... to self.retraining
        self.tree.on_error = on_tree_error
        if not self.settings.retention.keeps_everything:
            self._pruning = asyncio.get_running_loop().create_task(self._prune_songs(), name="bgm-prune")
        if self.settings.sync_commands:
            await self.sync_commands()
        # What exists now lives as long as the bot (TensorFlow, discord.py: ~0.5 M objects). Frozen, the
        # collector's full passes skip it; each would otherwise hold the event loop 0.3-0.6 s on 2 cores.
        gc.collect()
        gc.freeze()

    async def sync_commands(self) -> None:
        """Guild syncs show up at once; a global sync can take up to an hour to reach every client."""
        if not self.settings.guild_ids:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for guild_id in self.settings.guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild_id)

    async def _prune_songs(self) -> None:
        """Apply the songs' retention now and every ``prune_every_s``; a failure is logged, not fatal."""
        while True:
            try:
                gone = await prune(self.tracks.songs, self.settings.retention)
                if gone:
                    log.info("removed %d songs past their retention", len(gone))
            except (OSError, SongsUnavailable) as error:
                log.warning("could not apply the songs' retention: %s", error)
            await asyncio.sleep(self.settings.prune_every_s)

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        # Tell everyone waiting before the connection goes; close() may be called more than once.
        if not self._closing:
            self._closing = True
            if self._pruning is not None:
                self._pruning.cancel()
            if self.radios is not None:
                await self.radios.shutdown()  # each radio says it stops, and leaves its channel
            if self.tracks is not None:
                await self.tracks.shutdown()  # the queue closes: everyone waiting is told
            await self.retraining.shutdown()
            await self.store.close()
            if self.shared is not None:
                with contextlib.suppress(RedisError):
                    await self.shared.redis.aclose()
            if self.renderer is not None:
                self.renderer.close()
            if self._owns_client:
                await self.model_client.close()
            gc.unfreeze()  # what setup_hook froze may be garbage now (a bot restarted in one process)
        await super().close()


async def on_tree_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """Expected errors answered in their own words; anything else logged and answered in general terms."""
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(cause, BgmError | app_commands.TransformerError | app_commands.CheckFailure):
        text = f"❌ {cause}"
    else:
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("command /%s failed", name, exc_info=cause)
        text = UNEXPECTED
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as http_error:
        log.warning("could not report an error to the user: %s", http_error)


class ShardedBgmBot(BgmBot, commands.AutoShardedBot):
    """``BgmBot`` over some of the bot's shards (``BGM_SHARD_IDS`` of ``BGM_SHARD_COUNT``): Discord sends
    each process the events of its shards' guilds, clicks included; what a click needs (the track
    store, the queue) is shared, so any process can answer any button."""


def build_bot(settings: BotSettings, client: ModelClient, owns_client: bool, **options) -> BgmBot:
    """A ``ShardedBgmBot`` when shards are set, else the plain single-connection ``BgmBot``."""
    if settings.shard_count is None:
        return BgmBot(settings, client, owns_client, **options)
    shard_ids = settings.shard_ids or list(range(settings.shard_count))
    return ShardedBgmBot(
        settings, client, owns_client, shard_ids=shard_ids, shard_count=settings.shard_count, **options
    )


def create_bot(settings: BotSettings, client: ModelClient | None = None, **options) -> BgmBot:
    """A bot ready for ``start(token)``; with no ``client``, one for ``settings.server`` (closed with it).

    ``options`` go to ``commands.Bot`` (tests pass a short ``guild_ready_timeout``).
    """
    apply_endpoints(settings)
    owns = client is None
    if client is None:
        if not settings.server:
            raise ValueError("no model server: set BGM_SERVER or pass a client")
        client = model_client(settings, settings.server)
    return build_bot(settings, client, owns, **options)


async def _serve(settings: BotSettings, target: str) -> None:
    apply_endpoints(settings)
    bot = build_bot(settings, model_client(settings, target), owns_client=True)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # docker stop sends SIGTERM: close cleanly on it too
        loop.add_signal_handler(signum, lambda: loop.create_task(bot.close()))
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())


def run(settings: BotSettings, local_server: LocalServer | None = None) -> int:
    """``bgm bot``: run until SIGINT or SIGTERM, against ``BGM_SERVER`` or else ``local_server()``."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if not settings.discord_token.get_secret_value():
        log.error("DISCORD_TOKEN is not set (environment or .env)")
        return 2
    if settings.server:
        server: AbstractContextManager[str] = contextlib.nullcontext(settings.server)
    elif local_server is not None:
        server = local_server()
    else:
        log.error("no model server: set BGM_SERVER")
        return 2
    metrics = None
    if settings.metrics_port is not None:
        try:
            metrics = monitoring.serve(settings.metrics_port, settings.metrics_host)
        except OSError as error:
            log.error(
                "cannot serve metrics on %s:%s (%s)", settings.metrics_host, settings.metrics_port, error
            )
            return 2
        log.info("Prometheus metrics on http://%s:%s/metrics", settings.metrics_host, metrics.server_port)
    try:
        with server as target:
            asyncio.run(_serve(settings, target))
    except discord.LoginFailure:
        log.error("Discord refused the token in DISCORD_TOKEN")
        return 2
    except RecordsUnavailable as error:  # BGM_DATABASE_URL down or wrong: said once, no traceback
        log.error("%s", error)
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the gateway intents this bot asked for")
        return 2
    finally:
        if metrics is not None:
            metrics.shutdown()
    return 0
