"""What the radio says: the now-playing card, its answers and why it stopped."""

from __future__ import annotations

import discord

from bot.formatting import COLOUR, clock
from bot.radio.songs import RadioSong

MAX_PHRASE_WAIT_S = 10  # what /bgm radio mood promises (a song made and the next phrase reached)


def now_playing(song: RadioSong, channel_mention: str, number: int, started_by: str) -> discord.Embed:
    """The card edited as each song starts: what plays, and how to make it again."""
    request = song.composition.request
    embed = discord.Embed(
        title=f"📻 Now playing in {channel_mention}: {request.mood}",
        colour=COLOUR,
        description=f"Song {number} of this radio, started by {started_by}. "
        "The audio and MIDI below are this song's, to keep or share.",
    )
    embed.add_field(name="Mood", value=request.mood)
    embed.add_field(name="Key", value=song.files.key or "?")
    embed.add_field(name="Tempo", value=f"{song.files.tempo} bpm")
    embed.add_field(name="Length", value=clock(song.files.seconds))
    embed.add_field(name="Seed", value=str(request.seed))
    embed.add_field(name="Model version", value=str(song.composition.model_version))
    embed.set_footer(text="/bgm radio mood to change the mood · /bgm radio stop to stop")
    return embed


def starting(channel_mention: str, mood: str) -> str:
    return f"📻 Radio tuning in to {channel_mention}: composing a **{mood}** song, on air in a few seconds."


def turning(mood: str) -> str:
    return f"🎚️ The radio turns to **{mood}** at the next phrase (within {MAX_PHRASE_WAIT_S} s)."


def stopped(reason: str) -> str:
    return f"📻 Radio off: {reason}"


def status_value(
    channel_mention: str, mood: str, songs: int, listeners: int, margin_s: float | None, underruns: int
) -> str:
    ahead = f", {margin_s:.0f} s composed ahead" if margin_s is not None else ", composing the first song"
    gaps = f", {underruns} gaps" if underruns else ""
    return f"{channel_mention}: {mood}, song {songs}, {listeners} listening{ahead}{gaps}"
