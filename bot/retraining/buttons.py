""" "Publish anyway": the button under a training the quality gate refused.

Stateless (``bgm:publish-anyway``): the refused candidate waits in the bot's training run folder, and a
click goes to the ``retraining`` flow of the bot that received it, which checks that the clicker is an
admin, then publishes the candidate (``bgm models publish``) and follows it until it is live.
"""

from __future__ import annotations

import re
from typing import Protocol

import discord

CUSTOM_ID = "bgm:publish-anyway"


class Publisher(Protocol):
    async def publish_anyway(self, interaction: discord.Interaction) -> None: ...


class PublishAnywayButton(discord.ui.DynamicItem[discord.ui.Button], template=re.escape(CUSTOM_ID)):
    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="Publish anyway", emoji="⚠️", style=discord.ButtonStyle.danger, custom_id=CUSTOM_ID
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> PublishAnywayButton:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        flow: Publisher = interaction.client.retraining
        await flow.publish_anyway(interaction)


def publish_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(PublishAnywayButton())
    return view
