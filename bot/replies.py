"""Where a job's progress and result go: the interaction while its 15-minute token lasts, then the
channel (``Reply``); or the channel alone, for a job with no interaction any more (``ChannelReply``)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import discord

TOKEN_LIFETIME_S = 15 * 60
MARGIN_S = 60  # an edit started just before expiry must still land
RESTARTED = "🔁 The bot restarted before your song was done, so it is being made again here."


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

    async def preview(self, text: str, path: Path) -> None:
        """Progress with a file to play meanwhile (the song's opening); ``finish`` replaces it."""
        if self.fresh:
            await self.interaction.edit_original_response(content=text, attachments=[discord.File(path)])

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


class ChannelReply:
    """``Reply``'s interface for a job with no interaction (a track recovered after a restart).

    Progress is one message in the channel that mentions the requester; the result is a new
    message (so its arrival notifies them), after which the progress message goes.
    """

    def __init__(self, channel: discord.abc.Messageable, mention: str, preface: str = RESTARTED) -> None:
        self.channel, self.mention, self.preface = channel, mention, preface
        self.message: discord.Message | None = None

    async def show(self, text: str) -> None:
        content = f"{self.mention} {self.preface}\n{text}"
        if self.message is None:
            self.message = await self.channel.send(content)
        else:
            await self.message.edit(content=content)

    async def finish(
        self,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        paths: list[Path] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        text = f"{self.mention} {content or ''}".strip()
        if not paths and self.message is not None:  # an error or a notice: said in the message they have
            return await self.message.edit(content=text)
        message = await self.channel.send(
            content=text, embed=embed, files=[discord.File(p) for p in paths] or None, view=view
        )
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.delete()
        return message
