"""The ``/bgm`` commands: check input, hand the job on (``tracks``, ``retraining``, ``versions``), format
the answer.

The cog builds nothing: ``app.BgmBot`` makes the parts and passes them in.

Layout: ``/bgm compose``, ``/bgm status``, a ``/bgm train`` group with ``start``, ``status`` and
``cancel``, and a ``/bgm model`` group with ``list``, ``promote`` and ``rollback`` (admins). Discord
does not let ``/bgm train`` be a command and a group at once, and a group keeps the issue's
``/bgm train status`` and ``/bgm train cancel`` spelled as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bgm import instruments
from bgm.errors import BgmError
from bgm.harmony import Key
from bgm.meter import METERS
from bgm.moods import MOODS
from bot import formatting
from bot.checks import admin_only
from bot.radio.radios import Radios
from bot.retraining.flow import RetrainFlow
from bot.tracks.maker import TrackMaker
from bot.tracks.queue import JobQueue
from bot.tracks.store import TrackStore
from bot.versions.flow import ModelVersions
from composer.client import ModelClient
from composer.composer import ComposeRequest
from composer.errors import ServerUnavailable

log = logging.getLogger(__name__)
STATUS_TIMEOUT_S = 5.0
MAX_SEED = 2**31 - 1
MAX_EPOCHS_OPTION = 1000
KEY_NAMES = [Key(tonic, mode).name for mode in ("major", "minor") for tonic in range(12)]


async def _out_of_range(interaction: discord.Interaction, name: str, value, low: int, high: int) -> bool:
    """Refuse ``value`` outside [low, high], ephemerally. discord.py sends an option's range to Discord
    but does not check it on arrival, and a crafted request is not bound by it: a seed of -1 failed
    deep in numpy, and epochs of 0 or -5 were taken as the default or passed to training."""
    if value is None or low <= value <= high:
        return False
    await interaction.response.send_message(f"❌ {name} must be between {low} and {high}.", ephemeral=True)
    return True


@app_commands.guild_only()  # tracks, uploads and admins all belong to a server
class BgmCog(commands.GroupCog, name="bgm", group_name="bgm", group_description="Background music, composed"):
    train = app_commands.Group(name="train", description="Retrain the model on this server's music (admins)")
    model = app_commands.Group(
        name="model", description="The model's versions: list, promote, roll back (admins)"
    )

    def __init__(
        self,
        client: ModelClient,
        store: TrackStore,
        queue: JobQueue,
        tracks: TrackMaker,
        retraining: RetrainFlow,
        versions: ModelVersions,
        started: float | None = None,
    ):
        self.client, self.store, self.queue = client, store, queue
        self.tracks, self.retraining, self.versions = tracks, retraining, versions
        self.started = time.monotonic() if started is None else started
        self.radios: Radios | None = None  # set by the app, which adds /bgm radio itself
        super().__init__()

    @app_commands.command(description="Compose a song in a mood: audio, MIDI and its details, posted here")
    @app_commands.describe(
        mood="the feel of the song",
        length="how long the song's parts are (default medium)",
        seed="the same seed on the same model version gives the same song",
        tempo="beats per minute (default: the mood's)",
        key='the key, e.g. "D minor" or "F# major" (default: the mood\'s, or the primer\'s)',
        lead="the melody's instrument: a General MIDI name or number 1-128 (default: the mood's)",
        loop="audio that loops seamlessly: whole bars, its reverb tail folded into its start",
        primer="a MIDI, MusicXML or ABC file: the song opens with its first bars and goes on from them",
        meter="4/4, 3/4 (a waltz) or 6/8 (a jig) (default: the primer's, else 4/4)",
    )
    @app_commands.choices(
        mood=[app_commands.Choice(name=m, value=m) for m in MOODS],
        meter=[app_commands.Choice(name=m.name, value=m.name) for m in METERS],
    )
    async def compose(
        self,
        interaction: discord.Interaction,
        mood: str,
        length: Literal["short", "medium", "long"] = "medium",
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        tempo: app_commands.Range[int, 30, 240] | None = None,
        key: app_commands.Range[str, 1, 40] | None = None,
        lead: app_commands.Range[str, 1, 60] | None = None,
        loop: bool = False,
        primer: discord.Attachment | None = None,
        meter: str | None = None,
    ) -> None:
        # Choices bind Discord's client, not a crafted request: an unknown mood was queued and posted
        # publicly before failing, and a 6,000-character one made an error reply too long to send.
        if mood not in MOODS:
            shown = "".join(c for c in mood[:40] if c.isprintable())
            await interaction.response.send_message(
                f"❌ Unknown mood {shown!r}; choose one of: {', '.join(MOODS)}.", ephemeral=True
            )
            return
        if await _out_of_range(interaction, "The seed", seed, 0, MAX_SEED):
            return
        # A key, lead or tempo out of range raises BgmError here, answered privately (app.on_tree_error).
        request = ComposeRequest(
            mood,
            length,
            seed,
            tempo=tempo,
            key=key,
            lead=None if lead is None else instruments.program(lead),
            loop=loop,
            meter=meter,
        )
        await self.tracks.start(interaction, request, parent=None, primer=primer)

    @compose.autocomplete("key")
    async def _keys(self, interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        wanted = typed.strip().lower()
        found = [k for k in KEY_NAMES if k.lower().startswith(wanted)] or KEY_NAMES
        found = sorted(found, key=lambda k: len(k.split()[0]))  # "D major", "D minor", then "Db major"
        return [app_commands.Choice(name=k, value=k) for k in found[:25]]

    @compose.autocomplete("lead")
    async def _leads(self, interaction: discord.Interaction, typed: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=name, value=name) for name in instruments.matches(typed, 25)]

    @app_commands.command(description="The live model, the model server's health and the queue")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        version, moods, health = None, (), "serving"
        try:
            info = await asyncio.wait_for(self.client.metadata(), STATUS_TIMEOUT_S)
            version, moods = info.version, info.moods
        except (ServerUnavailable, TimeoutError):
            health = "not answering"
        except BgmError as error:
            health = str(error)
        failed: dict[int, str] = {}
        if version is not None:  # a newer version the server would not load: say which and why
            with contextlib.suppress(BgmError, TimeoutError):
                failed = await asyncio.wait_for(self.client.failed_versions(), STATUS_TIMEOUT_S)
        waiting, running = self.queue.waiting, self.queue.running
        if self.tracks.shared is not None:  # songs of every bot, in Redis (the local queue has stems only)
            with contextlib.suppress(BgmError):
                shared = await self.tracks.shared.counts()
                waiting, running = waiting + shared[0], running + shared[1]
        pairs = formatting.status_lines(
            version=version,
            moods=moods,
            health=health,
            waiting=waiting,
            running=running,
            done=await self.store.count(),
            uptime_s=time.monotonic() - self.started,
            training=self.retraining.runner.current,
        )
        pairs += [
            (f"Version {v} not served", f"It failed to load: {why[:300]}")
            for v, why in sorted(failed.items(), reverse=True)
            if v > version
        ][:3]
        pairs += [("Model config", problem[:300]) for problem in (await self.versions.problems())[:2]]
        if self.radios is not None:
            pairs += self.radios.status_lines(interaction.guild_id)
        await interaction.followup.send(embed=formatting.status_embed(pairs), ephemeral=True)

    @train.command(name="start", description="Train on attached music (or this server's earlier uploads)")
    @admin_only()
    @app_commands.describe(
        file1="a MIDI, MusicXML, ABC or Humdrum file, or a zip of them",
        file2="another file",
        file3="another file",
        epochs="passes over the data (default from the bot's settings)",
        from_scratch="start from an empty model instead of fine-tuning the live one",
    )
    async def train_start(
        self,
        interaction: discord.Interaction,
        file1: discord.Attachment | None = None,
        file2: discord.Attachment | None = None,
        file3: discord.Attachment | None = None,
        epochs: app_commands.Range[int, 1, MAX_EPOCHS_OPTION] | None = None,
        from_scratch: bool = False,
    ) -> None:
        if not await _out_of_range(interaction, "Epochs", epochs, 1, MAX_EPOCHS_OPTION):
            files = [f for f in (file1, file2, file3) if f is not None]
            await self.retraining.start(interaction, files, epochs, from_scratch)

    @train.command(name="status", description="How the running (or last) training is going")
    @admin_only()
    async def train_status(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(self.retraining.describe(), ephemeral=True)

    @train.command(name="cancel", description="Stop the running training; the live model stays")
    @admin_only()
    async def train_cancel(self, interaction: discord.Interaction) -> None:
        await self.retraining.cancel(interaction)

    @model.command(name="list", description="Every model version: labels, network, figures, state")
    @admin_only(action="manage the model versions")
    async def model_list(self, interaction: discord.Interaction) -> None:
        await self.versions.list(interaction)

    @model.command(name="promote", description="Make a version the one songs use (stable)")
    @admin_only(action="manage the model versions")
    @app_commands.describe(version="the version number (see /bgm model list)")
    async def model_promote(
        self, interaction: discord.Interaction, version: app_commands.Range[int, 1, MAX_SEED]
    ) -> None:
        if not await _out_of_range(interaction, "The version", version, 1, MAX_SEED):
            await self.versions.promote(interaction, version)

    @model.command(name="rollback", description="Go back to the previous stable version")
    @admin_only(action="manage the model versions")
    async def model_rollback(self, interaction: discord.Interaction) -> None:
        await self.versions.rollback(interaction)
