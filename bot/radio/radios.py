"""The radios of this process, one per server at most and ``radio_max`` in all: the checks that
refuse a start (caller not in voice, no Connect or Speak there, one already playing, all taken),
and starting, turning and stopping them for the ``/bgm radio`` commands."""

from __future__ import annotations

import asyncio
import logging

import discord

from bgm.moods import MOODS
from bot.radio import text
from bot.radio.errors import RadioError
from bot.radio.session import RadioKit, RadioSession

log = logging.getLogger(__name__)


def _voice_channel(interaction: discord.Interaction) -> discord.VoiceChannel | discord.StageChannel:
    """The caller's voice channel, if the bot may connect and speak there."""
    member = interaction.user
    state = member.voice if isinstance(member, discord.Member) else None
    if state is None or state.channel is None:
        raise RadioError("Join a voice channel first: the radio plays where you are.")
    channel = state.channel
    assert interaction.guild is not None
    allowed = channel.permissions_for(interaction.guild.me)
    missing = [name for name, ok in (("Connect", allowed.connect), ("Speak", allowed.speak)) if not ok]
    if missing:
        raise RadioError(
            f"I need the {' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} "
            f"in {channel.mention} to play the radio there."
        )
    return channel


class Radios:
    def __init__(self, kit: RadioKit) -> None:
        self.kit = kit
        self.sessions: dict[int, RadioSession] = {}  # by guild id

    @property
    def limit(self) -> int:
        return self.kit.settings.radio_max

    def _check_mood(self, mood: str) -> None:
        if mood not in MOODS:
            shown = "".join(c for c in mood[:40] if c.isprintable())
            raise RadioError(f"Unknown mood {shown!r}; choose one of: {', '.join(MOODS)}.")

    def _session(self, interaction: discord.Interaction) -> RadioSession:
        session = self.sessions.get(interaction.guild_id or 0)
        if session is None:
            raise RadioError("No radio is playing in this server; start one with /bgm radio start.")
        return session

    async def start(self, interaction: discord.Interaction, mood: str) -> None:
        self._check_mood(mood)
        channel = _voice_channel(interaction)
        if (playing := self.sessions.get(channel.guild.id)) is not None:
            raise RadioError(
                f"The radio is already playing in {playing.channel_mention}: "
                "/bgm radio mood changes its mood, /bgm radio stop stops it."
            )
        if len(self.sessions) >= self.limit:
            raise RadioError(
                f"All {self.limit} radios this bot can play at once are on air; try again when one stops."
            )
        # Taken before anything is awaited: two starts at once cannot both pass the checks above.
        session = RadioSession(
            self.kit,
            channel,
            interaction.channel,
            mood,
            interaction.user.mention,
            self._ended,  # type: ignore[arg-type]
        )
        self.sessions[channel.guild.id] = session
        try:
            await interaction.response.send_message(text.starting(channel.mention, mood))
            await session.connect(channel)
        except RadioError as error:  # the public "tuning in" message says it did not happen
            await session.end(None)
            await interaction.edit_original_response(content=text.stopped(str(error)))
        except BaseException:
            await session.end(None)
            raise

    async def change_mood(self, interaction: discord.Interaction, mood: str) -> None:
        self._check_mood(mood)
        session = self._session(interaction)
        session.change_mood(mood)
        await interaction.response.send_message(text.turning(mood))

    async def stop(self, interaction: discord.Interaction) -> None:
        session = self._session(interaction)
        await interaction.response.send_message(f"📻 Stopping the radio in {session.channel_mention}.")
        await session.end(f"stopped by {interaction.user.mention}.")

    def _ended(self, session: RadioSession) -> None:
        if self.sessions.get(session.guild.id) is session:
            del self.sessions[session.guild.id]

    def status_lines(self, guild_id: int | None) -> list[tuple[str, str]]:
        """``/bgm status``: how many radios play, and this server's."""
        pairs = [("Radios", f"{len(self.sessions)} of {self.limit} on air")]
        if (session := self.sessions.get(guild_id or 0)) is not None:
            margin = session.margins[-1] if session.margins else None
            value = text.status_value(
                session.channel_mention,
                session.mood,
                session.songs_started,
                session.listeners(),
                margin,
                session.stream.underruns,
            )
            pairs.append(("Radio here", value))
        return pairs

    async def shutdown(self) -> None:
        """Every radio says it stops and leaves, all at once (each may wait for its voice server)."""
        await asyncio.gather(
            *(session.end("the bot is restarting.") for session in list(self.sessions.values()))
        )
