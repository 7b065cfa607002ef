"""``/bgm radio start|mood|stop``: a subcommand group the app adds under ``/bgm``.

Discord does not let ``/bgm radio`` be a command and a group at once, so the issue's
``/bgm radio mood:<choice>`` is spelled ``/bgm radio mood mood:<choice>``.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bgm.moods import MOODS
from bot.radio.radios import Radios

MOOD_CHOICES = [app_commands.Choice(name=m, value=m) for m in MOODS]


class RadioCommands(app_commands.Group):
    def __init__(self, radios: Radios) -> None:
        super().__init__(
            name="radio", description="Endless music, composed as it plays, in your voice channel"
        )
        self.radios = radios

    @app_commands.command(name="start", description="Play freshly composed songs in your voice channel")
    @app_commands.describe(mood="the feel of the music")
    @app_commands.choices(mood=MOOD_CHOICES)
    async def start(self, interaction: discord.Interaction, mood: str) -> None:
        await self.radios.start(interaction, mood)

    @app_commands.command(name="mood", description="Turn the radio to another mood at the next phrase")
    @app_commands.describe(mood="the new feel of the music")
    @app_commands.choices(mood=MOOD_CHOICES)
    async def mood(self, interaction: discord.Interaction, mood: str) -> None:
        await self.radios.change_mood(interaction, mood)

    @app_commands.command(name="stop", description="Stop the radio and leave the voice channel")
    async def stop(self, interaction: discord.Interaction) -> None:
        await self.radios.stop(interaction)
