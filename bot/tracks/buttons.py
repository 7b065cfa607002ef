"""Regenerate, Variation and Stems: buttons whose state is their ``custom_id``, so they work after a
restart.

``bgm:regen:<track id>`` composes the track's options again with a new seed; ``bgm:var:<track id>``
keeps the seed and form and draws the next variation; ``bgm:stems:<track id>`` posts one audio file
per part of the track. The track itself is read from the store.
A click goes to the ``tracks`` of the bot that received it (``app.BgmBot``), whichever process
posted the button.
"""

from __future__ import annotations

import re
from typing import Protocol

import discord

KINDS = {"regen": ("Regenerate", "🔁"), "var": ("Variation", "🎲"), "stems": ("Stems", "🎚️")}


class Remixer(Protocol):
    async def remix(self, interaction: discord.Interaction, track_id: int, kind: str) -> None: ...

    async def stems(self, interaction: discord.Interaction, track_id: int) -> None: ...


class RemixButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"bgm:(?P<kind>regen|var|stems):(?P<track>\d+)"
):
    def __init__(self, kind: str, track_id: int) -> None:
        label, emoji = KINDS[kind]
        self.kind, self.track_id = kind, track_id
        super().__init__(
            discord.ui.Button(
                label=label,
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"bgm:{kind}:{track_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> RemixButton:
        return cls(match["kind"], int(match["track"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        tracks: Remixer = interaction.client.tracks  # registered in setup_hook, after tracks exists
        if self.kind == "stems":
            await tracks.stems(interaction, self.track_id)
        else:
            await tracks.remix(interaction, self.track_id, self.kind)


def track_view(track_id: int) -> discord.ui.View:
    """The buttons under a posted track (no timeout: dynamic items are matched by id, not by view)."""
    view = discord.ui.View(timeout=None)
    view.add_item(RemixButton("regen", track_id))
    view.add_item(RemixButton("var", track_id))
    view.add_item(RemixButton("stems", track_id))
    return view
