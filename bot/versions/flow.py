"""``/bgm model``: list the versions, promote one to ``stable``, roll ``stable`` back.

The labels live in the models folder's ``models.config`` (``lifecycle``); the model server re-reads
it, so the bot changes the file and then watches the server until its ``stable`` answer is the new
version (songs already started finish on theirs: they pinned the version number). File work runs in
a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from bgm.errors import BgmError
from bot.settings import BotSettings
from bot.versions.text import versions_text
from composer.client import ModelClient
from lifecycle.actions import Change, Lifecycle, LifecycleError
from lifecycle.config import STABLE

log = logging.getLogger(__name__)
STATUS_TIMEOUT_S = 5.0


class ModelVersions:
    def __init__(self, settings: BotSettings, client: ModelClient) -> None:
        self.settings, self.client = settings, client
        self.lifecycle = Lifecycle(settings.models_dir, settings.model_name, settings.keep_versions)
        self._busy = asyncio.Lock()  # one label change at a time from this bot

    async def failed(self) -> dict[int, str]:
        with contextlib.suppress(BgmError, TimeoutError):
            return await asyncio.wait_for(self.client.failed_versions(), STATUS_TIMEOUT_S)
        return {}

    async def problems(self) -> list[str]:
        return await asyncio.to_thread(self.lifecycle.problems)

    async def list(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        versions = await asyncio.to_thread(self.lifecycle.versions)
        text = versions_text(versions, await self.failed(), await self.problems())
        await interaction.followup.send(text, ephemeral=True)

    async def promote(self, interaction: discord.Interaction, version: int) -> None:
        await self._change(interaction, lambda failed: self.lifecycle.promote(version, STABLE, failed))

    async def rollback(self, interaction: discord.Interaction) -> None:
        await self._change(interaction, self.lifecycle.rollback)

    async def _change(self, interaction: discord.Interaction, change_labels) -> None:
        await interaction.response.defer(thinking=True)
        who = interaction.user.display_name
        async with self._busy:
            try:
                change: Change = await asyncio.to_thread(change_labels, await self.failed())
            except LifecycleError as error:
                await interaction.followup.send(f"❌ {error}")
                return
            stable = change.after.get(STABLE)
            if not change.changed:
                await interaction.followup.send(f"Nothing to change: version {stable} is already stable.")
                return
            log.info("%s changed the model labels: %s", who, change.text())
            served = await self.wait_until_stable(stable)
        if served == stable:
            await interaction.followup.send(
                f"✅ Model version {stable} is live ({change.text()}; by {who}). "
                "Songs already started finish on the version they began with."
            )
        else:
            await interaction.followup.send(
                f"⚠️ Labels changed ({change.text()}; by {who}), but the model server still answers with "
                f"version {served} after {self.settings.live_wait_s:g} s; it switches once it has loaded "
                f"version {stable}."
            )

    async def wait_until_stable(self, version: int, poll_s: float = 0.5) -> int | None:
        """The version the server answers stable with: ``version``, or what it still is at the deadline."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.live_wait_s
        served = None
        while True:
            with contextlib.suppress(BgmError, TimeoutError):
                served = (await asyncio.wait_for(self.client.metadata(), STATUS_TIMEOUT_S)).version
            if served == version or loop.time() >= give_up:
                return served
            await asyncio.sleep(poll_s)
