"""``Reply``'s interface for a worker: the requester's deferred response edited over its webhook while
the token lasts, else one message in the channel.

Posting must happen once even when a worker dies after posting and another makes the song again.
Editing ``@original`` is idempotent by nature (a second edit replaces the first); a channel message
is not, so it is sent only by the worker that first claims the track's key in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import discord

from bgm.errors import BgmError
from bot.jobs.song_job import SongJob
from bot.replies import MARGIN_S, TOKEN_LIFETIME_S

ORIGINAL = "@original"  # the interaction's first response, in Discord's webhook routes


class AlreadyPosted(BgmError):
    """Another worker posted this track in the channel already."""


class WebhookReply:
    def __init__(
        self,
        client: discord.Client,
        job: SongJob,
        channel_id: int,
        guild_id: int | None,
        mention: str,
        claim: Callable[[], Awaitable[bool]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.job, self.mention, self.claim, self.clock = job, mention, claim, clock
        self.webhook = discord.Webhook.partial(job.application_id, job.token, client=client)
        self.channel = client.get_partial_messageable(channel_id, guild_id=guild_id)

    @property
    def fresh(self) -> bool:
        return self.clock() - self.job.asked_at < TOKEN_LIFETIME_S - MARGIN_S

    async def show(self, text: str) -> None:
        if self.fresh:
            await self.webhook.edit_message(ORIGINAL, content=text)

    async def finish(
        self,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        paths: list[Path] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        if self.fresh:
            try:
                return await self.webhook.edit_message(
                    ORIGINAL,
                    content=content,
                    embed=embed,
                    attachments=[discord.File(p) for p in paths],
                    view=view,
                )
            except discord.HTTPException as error:
                if error.status != 401:  # 401: the token expired after all
                    raise
        if not await self.claim():
            raise AlreadyPosted(f"track {self.job.track_id} was posted by another worker")
        return await self.channel.send(
            content=f"{self.mention} {content or ''}".strip(),
            embed=embed,
            files=[discord.File(p) for p in paths] or None,
            view=view,
        )
