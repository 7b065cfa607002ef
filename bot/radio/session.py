"""One server's radio: a voice connection, songs made ahead of the play head, the now-playing card,
and a watch on the channel that ends it (empty for a while, the bot moved or disconnected).

Songs are composed and rendered off the event loop (the model server, a render worker, a thread to
read the PCM); the loop only places them in the ``PcmStream``, which discord.py's audio thread reads
20 ms at a time through ``RadioSource``. The next song is made as soon as the current one starts, so
a whole song's length is the margin against a slow composer; ``margins`` records what each song had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import discord

from bgm.errors import BgmError
from bot.radio import text
from bot.radio.errors import RadioError
from bot.radio.songs import RadioSong, make_radio_song
from bot.radio.stream import RATE, PcmStream
from bot.settings import BotSettings
from composer.composer import Composer, ComposeRequest, Composition
from composer.render_pool import RenderPool

log = logging.getLogger(__name__)
WATCH_S = 0.5  # how often the channel is looked at (empty, moved, disconnected)
GUARD_S = 0.3  # a mood change lands on a phrase at least this far past the play head
RETRY_S = 5.0  # between attempts when a song could not be made
ATTEMPTS = 3  # songs that fail in a row before the radio gives up and says why
PLACED_KEPT = 64  # songs remembered (for status and tests): a radio may play for days


@dataclass(frozen=True)
class RadioKit:
    """What every radio uses, built once by the app."""

    settings: BotSettings
    composer: Composer
    renderer: RenderPool
    out_dir: Path


class RadioSource(discord.AudioSource):
    """discord.py's audio thread reads the stream here: 3,840 bytes each call, at once."""

    def __init__(self, stream: PcmStream) -> None:
        self.stream = stream

    def read(self) -> bytes:
        return self.stream.read()

    def is_opus(self) -> bool:
        return False


class RadioSession:
    def __init__(
        self,
        kit: RadioKit,
        voice_channel: discord.VoiceChannel | discord.StageChannel,
        text_channel: discord.abc.Messageable,
        mood: str,
        started_by: str,
        on_end: Callable[[RadioSession], None],
    ) -> None:
        self.kit, self.mood, self.started_by, self._on_end = kit, mood, started_by, on_end
        self.guild = voice_channel.guild
        self.channel_id = voice_channel.id
        self.text_channel = text_channel
        self.loop = asyncio.get_running_loop()
        self.stream = PcmStream(
            round(kit.settings.radio_crossfade_s * RATE), on_start=self._started_threadsafe
        )
        self.out_dir = kit.out_dir / str(self.guild.id)
        self.voice: discord.VoiceClient | None = None
        self.current: RadioSong | None = None
        self.songs_started = 0
        self.margins: list[float] = []  # seconds between a song being placed and its turn to play
        # (start frame, composition) of the songs placed lately; the PCM lives in the stream only.
        self.placed: deque[tuple[int, Composition]] = deque(maxlen=PLACED_KEPT)
        self.made_s: deque[tuple[float, float]] = deque(maxlen=PLACED_KEPT)  # (compose, render) seconds
        self.ended = False
        self._message: discord.Message | None = None
        self._announcing = asyncio.Lock()
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._producer: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None

    @property
    def channel_mention(self) -> str:
        return f"<#{self.channel_id}>"

    def listeners(self) -> int:
        channel = self.guild.get_channel(self.channel_id)
        me = self.guild.me.id
        states = getattr(channel, "voice_states", {})
        return sum(1 for user_id in states if user_id != me)

    # -- lifecycle

    async def connect(self, voice_channel: discord.VoiceChannel | discord.StageChannel) -> None:
        """Join the channel and start making songs; ``RadioError`` when the channel cannot be joined."""
        try:
            self.voice = await voice_channel.connect(
                timeout=self.kit.settings.radio_connect_s, reconnect=True, self_deaf=True
            )
        except (
            TimeoutError,
            discord.ClientException,
            discord.ConnectionClosed,
            OSError,
            RuntimeError,
        ) as error:
            # RuntimeError: discord.py without PyNaCl or davey (a broken install, said in the log)
            log.warning("could not join voice channel %s: %r", self.channel_id, error)
            raise RadioError(f"I could not join {self.channel_mention} ({type(error).__name__}).") from None
        if self.ended:  # stopped while it was joining
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.voice.disconnect(force=True), 10)
            return
        if self._producer is None:  # else a mood change while joining has started one
            self._producer = self._spawn(self._produce(cut=False))
        self._watcher = self._spawn(self._watch())

    def change_mood(self, mood: str) -> None:
        """The next song is made in ``mood`` now, and cut in at the first phrase once it is ready."""
        self.mood = mood
        if self._producer is not None:
            self._producer.cancel()  # a song under way in the old mood is not wanted any more
        self._producer = self._spawn(self._produce(cut=True))

    async def end(self, reason: str | None) -> None:
        """Stop making songs, leave the channel, say ``reason`` in the text channel (None: say nothing)."""
        if self.ended:
            return
        self.ended = True
        self._on_end(self)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.stream.clear()
        if self.voice is not None:
            self.voice.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.voice.disconnect(force=True), 10)
        if reason:
            with contextlib.suppress(discord.HTTPException):
                await self.text_channel.send(text.stopped(reason))
        await asyncio.to_thread(shutil.rmtree, self.out_dir, True)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- making songs ahead

    async def _produce(self, cut: bool) -> None:
        first = self.songs_started == 0 and not self.stream.waiting()
        failures = 0
        while not self.ended:
            while self.stream.waiting() and not cut:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 1.0)
            mood = self.mood
            # The first song of a radio or of a mood is short: it is made in about half the time.
            length = "short" if first or cut else self.kit.settings.radio_length
            request = ComposeRequest(mood, length, tempo=self.kit.settings.radio_tempo).seeded()
            try:
                song = await self._make(request)
            except RadioError as error:
                await self.end(str(error))
                return
            except BgmError as error:  # the model server away, a model changed: try again, then say so
                failures += 1
                log.warning("radio song failed (%d of %d): %s", failures, ATTEMPTS, error)
                if failures >= ATTEMPTS:
                    await self.end(f"songs could not be made: {error}")
                    return
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                log.exception("radio song failed")
                await self.end("something went wrong while composing; it has been logged.")
                return
            failures = 0
            self._place(song, cut)
            first = cut = False

    async def _make(self, request: ComposeRequest) -> RadioSong:
        limit = self.guild.filesize_limit - 64 * 1024  # the embed and multipart overhead
        return await make_radio_song(
            self.kit.composer,
            self.kit.renderer,
            request,
            self.out_dir,
            max_bytes=limit,
            fmt=self.kit.settings.audio_format,
            soundfont=self.kit.settings.soundfont,
        )

    def _place(self, song: RadioSong, cut: bool) -> None:
        position = self.stream.position
        at = self.stream.next_phrase(position + round(GUARD_S * RATE)) if cut else None
        if at is not None:
            start = self.stream.cut_in(song, song.pcm, at, song.phrases)
        else:
            start = self.stream.append(song, song.pcm, song.phrases)
        self.margins.append((start - position) / RATE)
        log.info(
            "radio %s: %s song made (compose %.1f s, render %.1f s), plays in %.1f s",
            self.guild.id, song.composition.request.mood, song.compose_s, song.render_s, self.margins[-1],
        )  # fmt: skip
        self.placed.append((start, song.composition))
        self.made_s.append((song.compose_s, song.render_s))
        self._play()

    def _play(self) -> None:
        voice = self.voice
        if voice is not None and voice.is_connected() and not voice.is_playing() and self.stream.ahead():
            voice.play(RadioSource(self.stream), after=self._player_ended, signal_type="music")

    # -- what the audio thread reports

    def _started_threadsafe(self, song: RadioSong) -> None:
        self.loop.call_soon_threadsafe(self._started, song)

    def _started(self, song: RadioSong) -> None:
        self.current = song
        self.songs_started += 1
        self._room.set()
        self._spawn(self._announce(song, self.songs_started))

    def _player_ended(self, error: Exception | None) -> None:
        if self.ended:  # stopped by ``end`` itself (and the loop may be closing)
            return
        if error is not None:
            log.error("the radio's audio player failed", exc_info=error)
        self.loop.call_soon_threadsafe(self._spawn, self._player_gone())

    async def _player_gone(self) -> None:
        # discord.py's player ends when the connection stayed down past its timeout, or on an error.
        await self.end(f"I lost the voice connection to {self.channel_mention}.")

    async def _announce(self, song: RadioSong, number: int) -> None:
        """The now-playing card, edited with this song's details and files (then removed from disk)."""
        files = [song.files.audio, song.files.midi]
        try:
            async with self._announcing:
                if song is not self.current:  # a later song started while this one waited
                    return
                embed = text.now_playing(song, self.channel_mention, number, self.started_by)
                attachments = [discord.File(path) for path in files if path is not None]
                try:
                    if self._message is None:
                        self._message = await self.text_channel.send(embed=embed, files=attachments)
                    else:
                        self._message = await self._message.edit(embed=embed, attachments=attachments)
                except discord.HTTPException as error:
                    log.warning("could not update the now-playing message: %s", error)
        finally:
            for path in files:
                if path is not None:
                    path.unlink(missing_ok=True)

    # -- the channel

    async def _watch(self) -> None:
        empty_since: float | None = None
        down_since: float | None = None
        settings = self.kit.settings
        while not self.ended:
            await asyncio.sleep(WATCH_S)
            now = time.monotonic()
            if self.guild.voice_client is None:  # discord.py let go of it: someone disconnected the bot
                await self.end(f"I was disconnected from {self.channel_mention}.")
                return
            where = self.guild.me.voice.channel if self.guild.me.voice else None
            if where is not None and where.id != self.channel_id:
                await self.end(f"I was moved to {where.mention}; the radio plays only where it was started.")
                return
            if self.voice is not None and not self.voice.is_connected():
                down_since = down_since or now
                if now - down_since > settings.radio_reconnect_s:
                    await self.end(
                        f"I lost the voice connection to {self.channel_mention} and could not get it back."
                    )
                    return
            else:
                down_since = None
                self._play()  # a song placed while the connection was down starts now
            if self.listeners() == 0:
                empty_since = empty_since or now
                if now - empty_since >= settings.radio_empty_s:
                    await self.end(
                        f"{self.channel_mention} has been empty for {settings.radio_empty_s:.0f} s."
                    )
                    return
            else:
                empty_since = None
