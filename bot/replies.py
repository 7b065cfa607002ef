"""Answering one interaction for as long as a job takes, past its 15-minute token if need be."""

from __future__ import annotations

import time
from pathlib import Path

import discord

TOKEN_LIFETIME_S = 15 * 60
MARGIN_S = 60  # an edit started just before expiry must still land


class Reply:
    """The deferred response, edited while its token lasts; after that, new messages in the channel."""

    def __init__(self, interaction: discord.Interaction, clock=time.monotonic) -> None:
        self.interaction, self.clock = interaction, clock
        self.started = clock()  # made at once on arrival, so this is the token's age to within a moment

    @property
    def fresh(self) -> bool:
        return self.clock() - self.started < TOKEN_LIFETIME_S - MARGIN_S

    async def show(self, text: str) -> None:
        """Progress: shown while the token lasts, dropped after (the result will come as a new message)."""
        if self.fresh:
            await self.interaction.edit_original_response(content=text)

    async def finish(
        self,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        paths: list[Path] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        """The final message: the response itself when the token is fresh, else a channel message."""
        # discord.py closes the files it sends, so each attempt opens its own.
        if self.fresh:
            try:
                return await self.interaction.edit_original_response(
                    content=content, embed=embed, attachments=[discord.File(p) for p in paths], view=view
                )
            except discord.HTTPException as error:
                if error.status != 401:  # 401: the token expired after all (clocks differ)
                    raise
        mention = self.interaction.user.mention
        return await self.interaction.channel.send(
            content=f"{mention} {content or ''}".strip(),
            embed=embed,
            files=[discord.File(p) for p in paths] or None,
            view=view,
        )
