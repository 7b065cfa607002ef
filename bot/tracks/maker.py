"""``/bgm compose`` and its buttons, from the deferred reply to the posted track.

The request takes its place in the queue first (a reservation, before anything is awaited, so a
burst of requests cannot overfill it), then is answered within Discord's 3 seconds and recorded (so
its buttons can find it after a restart), queued, and its message shows the queue position, then
each stage, then (``early_audio``) the song's opening to play, rendered while verse 2 is still
being composed, then becomes the result: audio first (it plays inline), the MIDI, an embed with the
song's piano roll, and the Regenerate / Variation / Stems buttons. A primer attached to the command
is read in a render worker after the deferral (a refusal is said privately and the deferred reply
removed); the composition is kept beside the song's files, so Stems renders the song that was posted.

A track stays ``pending`` in the store until its requester has an answer. A bot that was killed
with songs queued leaves them pending; the next one ``recover``s them: each is made again and posted
in its channel, mentioning its requester, or (when it is too old to still be wanted) the requester
is told it was lost. None is dropped silently.

With a shared queue (``BGM_REDIS_URL``), the place is reserved in Redis and the recorded track is
handed over there; a ``bgm worker`` makes and posts it (``make_now``), and the bot's part ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import shutil
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import discord

from bgm.errors import BgmError
from bgm.primer import Primer, PrimerRejected, check_meter, check_name_and_size, read_primer
from bot import formatting
from bot.jobs.shared_queue import SharedQueue, SharedReservation
from bot.jobs.song_job import SongJob
from bot.live import LiveText
from bot.replies import ChannelReply, Reply
from bot.settings import BotSettings
from bot.tracks.buttons import track_view
from bot.tracks.queue import JobQueue, JobTimedOut, Reservation
from bot.tracks.songs import RECORD as SONG_RECORD
from bot.tracks.songs import LocalSongs, Songs, SongsUnavailable
from bot.tracks.stems import bundle
from bot.tracks.stems import cached as cached_stems
from bot.tracks.stems import keep as keep_stems
from bot.tracks.store import FAILED, POSTED, Track, TrackStore
from composer import monitoring
from composer.composer import Composer, ComposeRequest, Composition
from composer.render import NoAudio, SongFiles
from composer.render_pool import RenderPool
from composer.song import Song, make_song, song_renderer

log = logging.getLogger(__name__)
RESUME_WITHIN_S = 3600.0  # a request older than this when the bot comes back is reported, not made
DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
ENVELOPE_BYTES = 64 * 1024  # the embed and multipart overhead that shares the upload with the files
SOMETHING_WRONG = "Something went wrong while composing; it has been logged."
OPENING_NOTE = "▶️ Here is how it opens; the whole song follows."
READ_WITHIN_S = 2.5  # the Stems button reads the song's record before answering, within Discord's 3 s


class TrackMaker:
    """Tracks from request to posted message; built by ``app.BgmBot``, which owns what it is given."""

    def __init__(
        self,
        settings: BotSettings,
        composer: Composer,
        store: TrackStore,
        queue: JobQueue,
        renderer: RenderPool | None = None,
        songs: Songs | None = None,
        shared: SharedQueue | None = None,
    ) -> None:
        self.settings, self.composer, self.store, self.queue = settings, composer, store, queue
        self.songs = songs or LocalSongs(settings.data_dir / "songs")  # where songs are rendered and kept
        self.renderer = renderer  # render worker processes in the bot; None: the loop's default threads
        self.shared = shared  # set: songs are queued in Redis and made by `bgm worker` processes
        self._active: set[asyncio.Task] = set()  # handlers still to tell their requester something
        # One stems render per track at a time: a click while it runs waits and takes what it made.
        self._stems_renders: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(
        self,
        interaction: discord.Interaction,
        request: ComposeRequest,
        parent: Track | None,
        primer: discord.Attachment | None = None,
    ):
        """Answer within Discord's 3 seconds, then follow the track to its posting."""
        user = interaction.user
        try:
            if primer is not None:  # what its name and size tell, before anything is downloaded
                check_name_and_size(primer.filename, primer.size)
            # Before any other await: the check and the place are one step (in Redis, one script).
            place = self.queue.reserve(user.id) if self.shared is None else await self.shared.reserve(user.id)
        except BgmError as error:  # full, cooldown, too many, closing, a bad primer: said privately
            mark = "❌" if isinstance(error, PrimerRejected) else "⏳"
            await interaction.response.send_message(f"{mark} {error}", ephemeral=True)
            return
        task = asyncio.current_task()
        self._active.add(task)
        try:
            reply = Reply(interaction)
            await interaction.response.defer(thinking=True)
            if primer is not None:
                read = await self._read_primer(interaction, primer, request.meter)
                if read is None:
                    return
                request = replace(request, primer=read)
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
            try:
                await self._make(reply, track, parent, interaction.filesize_limit, user.mention, place)
            except Exception:  # answered by the command tree's error handler: not to be made again
                await self.store.update(track.id, state=FAILED)
                raise
        finally:
            # If it was not used (the defer failed...): the place goes to someone else.
            await place.release() if isinstance(place, SharedReservation) else place.release()
            self._active.discard(task)

    async def _read_primer(
        self, interaction: discord.Interaction, attachment: discord.Attachment, meter: str | None
    ) -> Primer | None:
        """The attached primer, read in a render worker (music21 holds the GIL for as long as it
        parses), that can open a song in ``meter``; ``None`` when refused: the reason said privately,
        the deferred reply removed."""
        try:
            data = await attachment.read()
            job = functools.partial(read_primer, attachment.filename, data)
            if self.renderer is not None:
                read = await self.renderer.run(job)
            else:
                read = await asyncio.get_running_loop().run_in_executor(None, job)
            check_meter(read, meter)
            return read
        except PrimerRejected as error:
            text = f"❌ {error} Nothing was composed."
        except discord.HTTPException:
            text = "❌ The primer could not be downloaded from Discord; try again."
        # The deferred reply goes first: while it waits, a followup would replace it, in public.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
        return None

    async def remix(self, interaction: discord.Interaction, track_id: int, kind: str) -> None:
        """A button press: the track again with a new seed (regen) or its next variation (var)."""
        original = await self.store.get(track_id)
        if original is None or original.request.seed is None:
            await interaction.response.send_message(
                "I have no record of that track any more.", ephemeral=True
            )
            return
        if kind == "regen":
            request = replace(original.request, seed=None, variation=0)
        else:
            variation = await self.store.next_variation(original.root_id, original.request.seed)
            request = replace(original.request, variation=variation)
        await self.start(interaction, request, parent=original)

    async def recover(self, channel_for: Callable[[Track], discord.abc.Messageable]) -> int:
        """Pick up the tracks a killed bot left pending: queue each again, or tell its requester.

        ``channel_for(track)`` gives the channel to post in (the bot's ``get_partial_messageable``:
        REST only, so this works before the gateway is up). Returns how many tracks were found.
        """
        tracks = await self.store.unfinished()
        now = time.time()
        for track in tracks:
            if track.channel_id is None:
                await self.store.update(track.id, state=FAILED)
                continue
            reply = ChannelReply(channel_for(track), f"<@{track.user_id}>")
            if now - track.created_at > RESUME_WITHIN_S:
                job = self._tell_lost(reply, track)
            else:
                job = self._resume(reply, track)
            task = asyncio.get_running_loop().create_task(job, name=f"bgm-recover-{track.id}")
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        if tracks:
            log.info("found %d tracks left unfinished by the last run", len(tracks))
        return len(tracks)

    async def _tell_lost(self, reply: ChannelReply, track: Track) -> None:
        asked = f"<t:{int(track.created_at)}:R>"
        try:
            await reply.finish(
                f"❌ The bot was restarted, and your {track.request.mood} song asked for {asked} was lost"
                " with it. Ask again with `/bgm compose`."
            )
        except discord.HTTPException as error:
            log.warning("could not tell user %s about lost track %s: %s", track.user_id, track.id, error)
        await self.store.update(track.id, state=FAILED)

    async def _resume(self, reply: ChannelReply, track: Track) -> None:
        parent = await self.store.get(track.parent_id) if track.parent_id else None
        try:
            await self._make(reply, track, parent, DEFAULT_UPLOAD_LIMIT, reply.mention, None)
        except discord.HTTPException as error:  # the channel is gone or closed to the bot
            log.warning("could not post recovered track %s: %s", track.id, error)
            await self.store.update(track.id, state=FAILED)

    async def _make(
        self,
        reply: Reply | ChannelReply,
        track: Track,
        parent: Track | None,
        upload_limit: int,
        mention: str,
        place: Reservation | SharedReservation | None,
    ) -> None:
        if isinstance(place, SharedReservation):
            await self._hand_over(reply, track, upload_limit, place)
            return
        live = LiveText(reply.show)
        submitted = time.monotonic()
        try:
            ticket = self.queue.submit(
                track.user_id,
                lambda: self._song(reply, track, upload_limit, live, submitted),
                lambda p: live.set(formatting.position_text(p)),
                reservation=place,
                admitted=place is None,  # a recovered track was accepted by the bot before
            )
            song = await ticket
        except Exception as error:
            await self._failed(live, reply, track, error)
            return
        await live.close()
        await self._post(reply, track, song, parent, mention)
        monitoring.song_answered(track.request.mood)

    async def make_now(
        self, reply, track: Track, parent: Track | None, upload_limit: int, timeout: float
    ) -> bool:
        """A worker's part (``bot.jobs.worker``): the song made within ``timeout`` and posted, or its
        requester told why not. True if a song was posted."""
        live = LiveText(reply.show)
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                song = await self._song(reply, track, upload_limit, live)
        except Exception as error:
            if isinstance(error, TimeoutError) and deadline.expired():
                error = JobTimedOut(timeout)
            await self._failed(live, reply, track, error)
            return False
        await live.close()
        await self._post(reply, track, song, parent, f"<@{track.user_id}>")
        monitoring.song_answered(track.request.mood)
        return True

    async def _hand_over(
        self, reply: Reply | ChannelReply, track: Track, upload_limit: int, place: SharedReservation
    ) -> None:
        """Queue the track in Redis for a ``bgm worker``, which edits this reply from then on."""
        interaction = reply.interaction
        asked_at = time.time() - (reply.clock() - reply.started)  # when the token was issued, in wall time
        job = SongJob(track.id, interaction.application_id, interaction.token, asked_at, upload_limit)
        # Shown before the ticket exists: once it does, a worker may post at any moment.
        await reply.show(formatting.position_text(place.ahead + 1))
        try:
            await self.shared.submit(place, str(track.id), job.to_dict())
        except BgmError as error:
            await reply.finish(f"❌ {error}")
            await self.store.update(track.id, state=FAILED)

    async def _song(
        self, reply, track: Track, upload_limit: int, live: LiveText, submitted: float | None = None
    ) -> Song:
        """The track's song made and kept beside its record (``submitted``: when it was queued here);
        its opening is posted on ``reply`` first when early audio is on."""
        if submitted is not None:
            monitoring.QUEUE_WAIT.observe(time.monotonic() - submitted)
        shown = {"stage": "", "note": ""}  # the progress line, and a line about the opening once posted

        def progress(stage) -> None:
            shown["stage"] = formatting.stage_text(stage)
            live.set("\n".join(filter(None, shown.values())))

        async def opening(files: SongFiles) -> None:
            shown["note"] = OPENING_NOTE
            text = "\n".join(filter(None, shown.values()))
            await reply.preview(text, files.audio)
            live.set(text)  # a progress edit sent meanwhile must not leave the note out

        early = self.settings.early_audio and isinstance(reply, Reply)
        folder = self.songs.folder(track.id)
        song = await make_song(
            self.composer,
            track.request,
            folder,
            max_bytes=upload_limit - ENVELOPE_BYTES,
            fmt=self.settings.audio_format,
            soundfont=self.settings.soundfont,
            progress=progress,
            renderer=self.renderer,
            picture=True,
            opening=opening if early else None,
        )
        record = json.dumps(song.composition.to_dict())
        await asyncio.to_thread((folder / SONG_RECORD).write_text, record)
        return song

    async def _failed(self, live: LiveText, reply, track: Track, error: Exception) -> None:
        monitoring.song_answered(track.request.mood, error)
        if isinstance(error, BgmError):  # the model server, the queue closing...: one sentence
            await self._fail(live, reply, track, f"❌ {error}")
        else:
            log.error("composing track %s failed", track.id, exc_info=error)
            await self._fail(live, reply, track, f"❌ {SOMETHING_WRONG}")

    async def _fail(self, live: LiveText, reply, track: Track, text: str) -> None:
        await self._discard(track.id)
        await live.close()
        await reply.finish(text)
        await self.store.update(track.id, state=FAILED)

    async def _discard(self, track_id: int) -> None:
        """Drop what was rendered for a song that will not be posted: no store keeps it, and with S3
        its scratch folder would stay on this machine for ever."""
        await asyncio.to_thread(shutil.rmtree, self.songs.folder(track_id), ignore_errors=True)

    async def _post(self, reply, track: Track, song: Song, parent: Track | None, mention: str) -> None:
        files = song.files
        done = replace(
            track,
            request=song.composition.request,
            model_version=song.composition.model_version,
            key=files.key,
            tempo=files.tempo,
            seconds=files.seconds,
        )
        paths = [files.audio, files.midi] if files.audio else [files.midi]
        try:
            try:
                message = await self._send(reply, done, parent, paths, files, files.no_audio, mention)
            except discord.HTTPException as error:
                if error.status != 413 or not files.audio:
                    raise
                # The channel's limit was smaller than the interaction said: the MIDI alone.
                message = await self._send(
                    reply, done, parent, [files.midi], files, NoAudio.TOO_LARGE, mention
                )
        except BaseException:
            await self._discard(track.id)
            raise
        await self.store.update(
            track.id,
            request=done.request,
            model_version=done.model_version,
            key=done.key,
            tempo=done.tempo,
            seconds=done.seconds,
            message_id=message.id,
            jump_url=message.jump_url,
            state=POSTED,
        )
        try:
            await self.songs.keep(track.id)
        except SongsUnavailable as error:  # the song is posted all the same; only Stems will miss it
            log.warning("track %s was posted but not kept: %s", track.id, error)

    @staticmethod
    async def _send(
        reply, track, parent, paths: list[Path], files: SongFiles, no_audio: NoAudio | None, mention
    ) -> discord.Message:
        embed = formatting.track_embed(track, mention, parent, formatting.no_audio_note(no_audio))
        if files.picture is not None:  # the piano roll is the embed's image, attached beside the song
            embed.set_image(url=f"attachment://{files.picture.name}")
            paths = [*paths, files.picture]
        return await reply.finish(embed=embed, paths=paths, view=track_view(track.id))

    async def stems(self, interaction: discord.Interaction, track_id: int) -> None:
        """The Stems button: each part of the posted song as its own audio file, in one zip when the
        channel takes it, else the largest parts that fit, with a note. Rendered once, queued like a
        song; a later click posts what the first one made (``bot.tracks.stems``)."""
        try:
            record = await asyncio.wait_for(self.songs.read(track_id, SONG_RECORD), READ_WITHIN_S)
        except (SongsUnavailable, TimeoutError) as error:
            text = str(error) if isinstance(error, SongsUnavailable) else "The song store did not answer."
            await interaction.response.send_message(f"❌ {text} Try Stems again later.", ephemeral=True)
            return
        out = self.songs.folder(track_id) / "stems"
        track = await self.store.get(track_id)
        if track is None or record is None:
            await interaction.response.send_message(
                "I have no record of that track's song any more.", ephemeral=True
            )
            return
        stems = await asyncio.to_thread(cached_stems, out)
        place = None
        if stems is None:
            try:
                place = self.queue.reserve(interaction.user.id)
            except BgmError as error:
                await interaction.response.send_message(f"⏳ {error}", ephemeral=True)
                return
        try:
            await interaction.response.defer(thinking=True)
            limit = interaction.filesize_limit - ENVELOPE_BYTES

            async def work() -> list[Path]:
                async with self._stems_renders.setdefault(track_id, asyncio.Lock()):
                    if (made := await asyncio.to_thread(cached_stems, out)) is not None:
                        return made  # by a click just before this one
                    return await render()

            async def render() -> list[Path]:
                composition = Composition.from_dict(json.loads(record))
                job = song_renderer(
                    composition, out, self.settings.audio_format, self.settings.soundfont, stems=True
                )
                if self.renderer is not None:
                    files = await self.renderer.run(job)
                else:
                    files = await asyncio.get_running_loop().run_in_executor(None, job)
                if not files.stems:
                    raise BgmError(
                        f"The stems could not be made: {files.no_audio.value if files.no_audio else '?'}."
                    )
                await asyncio.to_thread(keep_stems, out, list(files.stems))
                return list(files.stems)

            try:
                if stems is None:
                    stems = await self.queue.submit(interaction.user.id, work, reservation=place)
                result = await asyncio.to_thread(bundle, stems, limit)
            except BgmError as error:
                await interaction.followup.send(f"❌ {error}")
                return
            except Exception:
                log.exception("making the stems of track %s failed", track_id)
                await interaction.followup.send(f"❌ {SOMETHING_WRONG}")
                return
            parts = ", ".join(p.stem.rsplit("-", 1)[-1] for p in stems)  # <stem>-<part>.<fmt>
            text = f"🎚️ Stems of track #{track_id}, one file per part: {parts}."
            if result.note:
                text += f"\n{result.note}"
            await interaction.followup.send(text, files=[discord.File(p) for p in result.paths])
        finally:
            if place is not None:
                place.release()

    async def shutdown(self, grace: float = 5.0) -> None:
        """Close the queue, then give the handlers time to tell their requesters what happened."""
        await self.queue.close(grace)
        if self._active:
            await asyncio.wait(self._active, timeout=grace)
