"""``/bgm compose`` and its buttons, from the deferred reply to the posted track.

The request is recorded first (so its buttons can find it after a restart), queued, and its
message shows the queue position, then each stage, then becomes the result: audio first (it plays
inline), the MIDI, an embed and the Regenerate / Variation buttons.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path

import discord

from bot import formatting
from bot.buttons import track_view
from bot.composer import Composer, ComposeRequest
from bot.errors import BgmError
from bot.live import LiveText
from bot.queue import JobQueue
from bot.replies import Reply
from bot.settings import BotSettings
from bot.songs import TOO_LARGE, Song, produce
from bot.store import Track, TrackStore

log = logging.getLogger(__name__)


class TrackMaker:
    def __init__(
        self,
        settings: BotSettings,
        composer: Composer,
        store: TrackStore,
        queue: JobQueue,
        renderer: Executor | None = None,
    ) -> None:
        self.settings, self.composer, self.store, self.queue = settings, composer, store, queue
        self.renderer = renderer  # a process pool in the bot; None: the loop's default threads
        self._active: set[asyncio.Task] = set()  # handlers still to tell their requester something

    async def start(self, interaction: discord.Interaction, request: ComposeRequest, parent: Track | None):
        """Answer within Discord's 3 seconds, then follow the track to its posting."""
        user = interaction.user
        try:
            self.queue.check(user.id)
        except BgmError as error:  # full, cooldown, too many, closing: said privately, nothing queued
            await interaction.response.send_message(f"⏳ {error}", ephemeral=True)
            return
        reply = Reply(interaction)
        await interaction.response.defer(thinking=True)
        task = asyncio.current_task()
        self._active.add(task)
        try:
            track = await self.store.add(
                Track(
                    user.id,
                    user.display_name,
                    interaction.guild_id,
                    interaction.channel_id,
                    request,
                    parent_id=parent.id if parent else None,
                    root_id=parent.root_id if parent else None,
                )
            )
            await self._make(interaction, reply, track, parent)
        finally:
            self._active.discard(task)

    async def _make(self, interaction: discord.Interaction, reply: Reply, track: Track, parent: Track | None):
        live = LiveText(reply.show)

        async def work() -> Song:
            return await produce(
                self.composer,
                track.request,
                self.settings.data_dir / "songs" / str(track.id),
                upload_limit=interaction.filesize_limit,
                fmt=self.settings.audio_format,
                soundfont=self.settings.soundfont,
                progress=lambda stage: live.set(formatting.stage_text(stage)),
                executor=self.renderer,
            )

        try:
            ticket = self.queue.submit(track.user_id, work, lambda p: live.set(formatting.position_text(p)))
            song = await ticket
        except BgmError as error:  # the model server, the queue closing...: one sentence
            await live.close()
            await reply.finish(f"❌ {error}")
            return
        except Exception:
            log.exception("composing track %s failed", track.id)
            await live.close()
            await reply.finish("❌ Something went wrong while composing; it has been logged.")
            return
        await live.close()
        await self._post(interaction, reply, track, song, parent)

    async def _post(self, interaction, reply: Reply, track: Track, song: Song, parent: Track | None) -> None:
        files = song.files
        done = replace(
            track,
            request=song.composition.request,
            model_version=song.composition.model_version,
            key=files.key,
            tempo=files.tempo,
            seconds=files.seconds,
        )
        mention = interaction.user.mention
        paths = [files.audio, files.midi] if files.audio else [files.midi]
        try:
            message = await self._send(reply, done, parent, paths, song.note, mention)
        except discord.HTTPException as error:
            if error.status != 413 or not files.audio:
                raise
            # The channel's limit was smaller than the interaction said: the MIDI alone.
            message = await self._send(reply, done, parent, [files.midi], TOO_LARGE, mention)
        await self.store.update(
            track.id,
            request=done.request,
            model_version=done.model_version,
            key=done.key,
            tempo=done.tempo,
            seconds=done.seconds,
            message_id=message.id,
            jump_url=message.jump_url,
        )

    @staticmethod
    async def _send(reply, track, parent, paths: list[Path], note, mention) -> discord.Message:
        embed = formatting.track_embed(track, mention, parent, note)
        return await reply.finish(embed=embed, paths=paths, view=track_view(track.id))

    async def shutdown(self, grace: float = 5.0) -> None:
        """Close the queue, then give the handlers time to tell their requesters what happened."""
        await self.queue.close(grace)
        if self._active:
            await asyncio.wait(self._active, timeout=grace)
