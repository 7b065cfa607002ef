"""``/bgm train``'s flow: uploads checked, training run in its own process, progress in one message.

Progress goes through ``channel.send`` and ``message.edit`` (the bot's token), never through the
interaction's, which expires after 15 minutes while training takes longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

import discord

from bgm.errors import BgmError
from bgm.files import is_music
from bot import formatting
from bot.checks import NotAdmin, is_admin
from bot.live import LiveText
from bot.retraining.buttons import publish_view
from bot.retraining.runner import (
    TrainingCancelled,
    TrainingFailed,
    TrainingRefused,
    TrainingRunner,
    TrainProgress,
    TrainRequest,
    failure_reason,
    training_env,
)
from bot.retraining.uploads import UploadLimits, UploadRejected, check_attachments, inspect, save
from bot.settings import BotSettings
from composer.client import ModelClient, ModelInfo
from lifecycle.config import version_folders

log = logging.getLogger(__name__)


def _has_music(folder: Path) -> bool:
    return folder.is_dir() and any(is_music(p.name) for p in folder.rglob("*"))


async def wait_until_served(
    client: ModelClient, version: int, timeout_s: float, poll_s: float = 1.0
) -> ModelInfo:
    """The model info once the server serves ``version`` as its latest; ``TrainingFailed`` on timeout."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while (left := give_up - loop.time()) > 0:
        try:
            states = await asyncio.wait_for(client.versions(), left)
            if states.get(version) == "AVAILABLE":
                info = await asyncio.wait_for(client.metadata(), max(give_up - loop.time(), 0.1))
                if info.version >= version:
                    return info
        except (BgmError, TimeoutError):
            pass  # restarting or busy loading: keep asking until the deadline
        await asyncio.sleep(min(poll_s, max(give_up - loop.time(), 0)))
    raise TrainingFailed(
        f"version {version} was published, but the model server has not loaded it after {timeout_s:g} s"
    )


class RetrainFlow:
    """One training at a time, from the command to the announcement that the new version is live."""

    def __init__(self, settings: BotSettings, client: ModelClient, runner: TrainingRunner) -> None:
        self.settings, self.client, self.runner = settings, client, runner
        self.limits = UploadLimits.from_settings(settings)
        self._task: asyncio.Task | None = None
        self.refused_message: discord.Message | None = None  # where the last refused training was told

    @property
    def busy(self) -> bool:
        # Still busy after the process ends, while waiting for the server to load the new version.
        return self.runner.busy or (self._task is not None and not self._task.done())

    def describe(self) -> str:
        if self.runner.current is not None:
            return formatting.training_text(self.runner.current)
        if self.busy:
            return "🏋️ Training finished; waiting for the model server to load the new version."
        if self.runner.last is not None:
            return "Last training:\n" + formatting.training_text(self.runner.last)
        return "No training has run since the bot started."

    async def start(
        self,
        interaction: discord.Interaction,
        attachments: list[discord.Attachment],
        epochs: int | None,
        from_scratch: bool,
    ) -> None:
        say = interaction.response.send_message
        if self.busy:
            await say(f"A training is already running.\n{self.describe()}", ephemeral=True)
            return
        epochs = epochs or self.settings.train_epochs
        if epochs > self.settings.train_max_epochs:
            await say(f"❌ At most {self.settings.train_max_epochs} epochs.", ephemeral=True)
            return
        try:
            check_attachments([(a.filename, a.size) for a in attachments], self.limits)
        except UploadRejected as error:
            await say(f"❌ {error}", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        tell = interaction.followup.send
        music = []
        try:
            for attachment in attachments:
                data = await attachment.read()
                # Zips are decompressed to check them: a thread, not the event loop.
                music += await asyncio.to_thread(inspect, attachment.filename, data, self.limits)
        except UploadRejected as error:
            await tell(f"❌ {error} Nothing was started.", ephemeral=True)
            return
        except discord.HTTPException:
            await tell("❌ An attachment could not be downloaded from Discord; try again.", ephemeral=True)
            return
        uploads = self.settings.data_dir / "uploads" / str(interaction.guild_id)
        if music:
            await asyncio.to_thread(save, music, uploads)
        elif not await asyncio.to_thread(_has_music, uploads):
            await tell(
                "❌ Attach MIDI, MusicXML, ABC or Humdrum files (or a zip of them) to train on.",
                ephemeral=True,
            )
            return
        if self.busy:  # another admin got in while the files were being read
            await tell(f"A training is already running.\n{self.describe()}", ephemeral=True)
            return
        request = TrainRequest(uploads, epochs, from_scratch, interaction.user.display_name)
        self._task = asyncio.create_task(self._run(interaction.channel, request, interaction.user.mention))
        accepted = f"{len(music)} music files accepted; " if music else ""
        await tell(f"✅ {accepted}training started. Progress is posted in this channel.", ephemeral=True)

    async def _run(self, channel, request: TrainRequest, mention: str) -> None:
        message = await channel.send(
            formatting.training_text(TrainProgress(request.requested_by, request.epochs))
        )
        live = LiveText(lambda text: message.edit(content=text), interval=2.0)
        try:
            await self._follow(channel, message, live, request, mention)
        except asyncio.CancelledError:
            await live.close()
            with contextlib.suppress(discord.HTTPException):
                await message.edit(content=f"{self._last_text()}\n⏹️ Stopped: the bot is shutting down.")
            raise
        except Exception:
            log.exception("training from Discord failed unexpectedly")
            await live.close()
            with contextlib.suppress(discord.HTTPException):
                await message.edit(
                    content=f"{self._last_text()}\n❌ Something went wrong; it has been logged."
                )

    def _last_text(self) -> str:
        progress = self.runner.current or self.runner.last
        return formatting.training_text(progress) if progress else "🏋️ Training"

    async def _follow(self, channel, message, live: LiveText, request: TrainRequest, mention: str) -> None:
        try:
            version = await self.runner.run(request, lambda p: live.set(formatting.training_text(p)))
        except TrainingCancelled as error:
            await live.close()
            await message.edit(content=f"{self._last_text()}\n⏹️ {error}")
            return
        except TrainingRefused as error:
            await live.close()
            self.refused_message = message
            await message.edit(
                content=f"{self._last_text()}\n🛑 {error} An admin can publish it anyway.",
                view=publish_view(),
            )
            return
        except TrainingFailed as error:
            await live.close()
            await message.edit(content=f"{self._last_text()}\n❌ {error} The live model is unchanged.")
            return
        live.set(
            f"{self._last_text()}\n⏳ Version {version} published; waiting for the model server to load it…"
        )
        try:
            info = await wait_until_served(self.client, version, self.settings.live_wait_s)
        except TrainingFailed as error:
            await live.close()
            await message.edit(content=f"{self._last_text()}\n⚠️ {error}.")
            return
        await live.close()
        await message.edit(content=f"{self._last_text()}\n✅ Version {info.version} is live.")
        await channel.send(
            f"🎶 Model version {info.version} is live, trained on this server's music (asked by {mention}). "
            f"Moods: {', '.join(info.moods)}. Try `/bgm compose`."
        )

    @property
    def candidate(self) -> Path:
        """Where ``bgm train`` keeps a candidate the quality gate refused (training/gate.py)."""
        return self.runner.work_dir / "run" / "candidate"

    async def publish_anyway(self, interaction: discord.Interaction) -> None:
        """The "Publish anyway" button: an admin overrides the gate; the candidate goes live."""
        say = interaction.response.send_message
        if not is_admin(interaction, self.settings.admin_roles):
            await say(f"❌ {NotAdmin(self.settings.admin_roles, 'publish a refused model')}", ephemeral=True)
            return
        if self.busy:
            await say(f"A training is running; publish after it.\n{self.describe()}", ephemeral=True)
            return
        if not (self.candidate / "saved_model.pb").is_file():
            await say(
                "Nothing to publish: a later training replaced that candidate, or it is out.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)
        who = interaction.user.display_name
        before = await asyncio.to_thread(version_folders, self.settings.models_dir / self.settings.model_name)
        command = [
            *self.settings.models_command,
            "publish",
            str(self.candidate),
            "--models",
            str(self.settings.models_dir),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=training_env()
        )
        _, stderr = await process.communicate()
        after = await asyncio.to_thread(version_folders, self.settings.models_dir / self.settings.model_name)
        if process.returncode != 0 or not after - before:
            reason = failure_reason(stderr.decode(errors="replace").splitlines(), process.returncode or 0)
            await interaction.followup.send(f"❌ Could not publish it: {reason}")
            return
        version = max(after - before)
        await asyncio.to_thread(shutil.rmtree, self.candidate, True)  # published once, never twice
        log.info("%s published version %d past the quality gate", who, version)
        if self.refused_message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.refused_message.edit(view=None)
        try:
            info = await wait_until_served(self.client, version, self.settings.live_wait_s)
        except TrainingFailed as error:
            await interaction.followup.send(
                f"⚠️ Version {version} was published anyway by {who}, but {error}."
            )
            return
        await interaction.followup.send(
            f"⚠️ Model version {info.version} was published anyway by {who}, past the quality gate, and is "
            "live. `/bgm model rollback` goes back."
        )

    async def cancel(self, interaction: discord.Interaction) -> None:
        if not self.runner.busy:
            text = (
                "Too late to cancel: it has already been published."
                if self.busy
                else "No training is running."
            )
            await interaction.response.send_message(text, ephemeral=True)
            return
        await interaction.response.send_message("⏹️ Stopping the training…", ephemeral=True)
        if not await self.runner.cancel(interaction.user.display_name):
            await interaction.followup.send("Too late to cancel: it has already finished.", ephemeral=True)

    async def shutdown(self, grace: float = 15.0) -> None:
        """Stop a running training (its process included) and say so in its message.

        The process is cancelled the ordinary way, so the message says why; the task itself is
        cancelled only as a last resort, since cutting a Discord request short leaves discord.py's
        rate-limit bucket for that route locked for 30 s.
        """
        task = self._task
        if task is None or task.done():
            return
        if self.runner.busy:
            await self.runner.cancel("the bot shutting down")
        _, pending = await asyncio.wait({task}, timeout=grace)
        if pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
