"""The bot: ``create_bot`` wires the parts together; ``run`` is ``bgm bot``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import render_worker
from bot.buttons import RemixButton
from bot.cog import BgmCog
from bot.errors import BgmError
from bot.queue import JobQueue
from bot.retrain import Retrainer
from bot.serving import ModelClient
from bot.settings import BotSettings
from bot.store import TrackStore
from bot.trainer import TrainingRunner

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UNEXPECTED = "❌ Something went wrong; it has been logged."
RENDER_NICENESS = 10  # render workers yield the CPU to the bot's event loop


def apply_endpoints(settings: BotSettings) -> None:
    """Point discord.py at a Discord-compatible proxy: it has no setting, only these class attributes."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base  # webhooks (interaction replies) use Route too
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class BgmBot(commands.Bot):
    def __init__(self, settings: BotSettings, client: ModelClient, owns_client: bool, **options) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # guild and role names for the admin check; no message content needed
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **options,
        )
        self.settings, self.model_client, self._owns_client = settings, client, owns_client
        self.store = TrackStore(settings.data_dir / "tracks.sqlite3")
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
        self.retrainer = Retrainer(settings, client, runner)
        self.cog: BgmCog | None = None
        self.renderer: ProcessPoolExecutor | None = None
        self._closing = False

    async def setup_hook(self) -> None:
        await self.store.open()
        self.cog = BgmCog(
            self.settings, self.model_client, self.store, self.queue, self.retrainer, self._start_renderer()
        )
        self.cog.tracks.renew_renderer = self._start_renderer
        await self.add_cog(self.cog)
        # Songs a killed predecessor left queued: made again (or their requesters told), over REST.
        await self.cog.tracks.recover(
            lambda track: self.get_partial_messageable(track.channel_id, guild_id=track.guild_id)
        )
        self.add_dynamic_items(RemixButton)
        self.tree.on_error = on_tree_error
        if self.settings.sync_commands:
            await self.sync_commands()

    def _start_renderer(self) -> ProcessPoolExecutor:
        """A new pool of render workers (replacing a broken one, whose workers are gone)."""
        old = self.renderer
        # Spawned, not forked: a fork of a process running gRPC and TensorFlow threads is not safe.
        # Niced: on a small host rendering must not take the CPU the event loop needs to answer in time.
        self.renderer = ProcessPoolExecutor(
            self.settings.queue_concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=os.nice,
            initargs=(RENDER_NICENESS,),
        )
        # Every worker started now (one per pending call; each imports music21 at once): a pool that
        # spawns on demand would fork a worker from the event loop in the middle of a song (~100 ms).
        for _ in range(self.settings.queue_concurrency):
            self.renderer.submit(render_worker.ready)
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        return self.renderer

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

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        # Tell everyone waiting before the connection goes; close() may be called more than once.
        if not self._closing:
            self._closing = True
            if self.cog is not None:
                await self.cog.shutdown()
            await self.store.close()
            if self.renderer is not None:
                self.renderer.shutdown(wait=False, cancel_futures=True)
            if self._owns_client:
                await self.model_client.close()
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


def create_bot(settings: BotSettings, client: ModelClient | None = None, **options) -> BgmBot:
    """A bot ready for ``start(token)``; with no ``client``, one for ``settings.server`` (closed with it).

    ``options`` go to ``commands.Bot`` (tests pass a short ``guild_ready_timeout``).
    """
    apply_endpoints(settings)
    owns = client is None
    if client is None:
        if not settings.server:
            raise ValueError("no model server: set BGM_SERVER or pass a client")
        client = ModelClient(
            settings.server, settings.model_name, deadline=settings.deadline_s, retry_for=settings.retry_s
        )
    return BgmBot(settings, client, owns, **options)


@contextlib.contextmanager
def _model_server(settings: BotSettings) -> Iterator[str]:
    """``BGM_SERVER``, else an embedded server on the models folder (it picks up trained versions)."""
    if settings.server:
        yield settings.server
        return
    from model_server import DEFAULT_BATCHING_CONFIG, EmbeddedServer

    (settings.models_dir / settings.model_name).mkdir(parents=True, exist_ok=True)
    with EmbeddedServer(settings.models_dir, batching_config=DEFAULT_BATCHING_CONFIG) as server:
        yield server.address


async def _serve(settings: BotSettings, target: str) -> None:
    client = ModelClient(
        target, settings.model_name, deadline=settings.deadline_s, retry_for=settings.retry_s
    )
    bot = BgmBot(settings, client, owns_client=True)
    apply_endpoints(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # docker stop sends SIGTERM: close cleanly on it too
        loop.add_signal_handler(signum, lambda: loop.create_task(bot.close()))
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())


def run(settings: BotSettings) -> int:
    """``bgm bot``: run until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if not settings.discord_token.get_secret_value():
        log.error("DISCORD_TOKEN is not set (environment or .env)")
        return 2
    try:
        with _model_server(settings) as target:
            asyncio.run(_serve(settings, target))
    except discord.LoginFailure:
        log.error("Discord refused the token in DISCORD_TOKEN")
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the gateway intents this bot asked for")
        return 2
    return 0
