"""Run a real discord.py client against a :class:`FakeDiscord` and shut it down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import discord

    from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound="discord.Client")


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, bot: ClientT, *, token: str | None = None, timeout: float = 10.0, patch: bool = True
) -> AsyncIterator[ClientT]:
    """``login()`` + ``connect()`` in a task, wait for ``on_ready``; on exit ``close()`` and await the task.

    Build the bot with ``guild_ready_timeout=0.05`` (or so): discord.py waits that long after the
    last GUILD_CREATE before it fires ``on_ready`` (default 2 s, which slows every test).
    ``patch=False`` if you already hold ``fake.patch_discord()``.
    """
    with fake.patch_discord() if patch else contextlib.nullcontext():
        connect_task: asyncio.Task | None = None
        ready_task: asyncio.Task | None = None
        try:
            await bot.login(token or fake.token)
            connect_task = asyncio.create_task(bot.connect(reconnect=True), name="fake-discord:bot.connect")
            ready_task = asyncio.create_task(bot.wait_until_ready(), name="fake-discord:bot.wait_until_ready")
            done, _ = await asyncio.wait(
                {connect_task, ready_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready_task not in done:
                if connect_task in done:
                    connect_task.result()  # raises what made connect() give up
                    raise RuntimeError("bot.connect() returned before the bot was ready")
                raise TimeoutError(f"the bot was not ready after {timeout}s\n{fake.describe()}")
            yield bot
        finally:
            if ready_task is not None and not ready_task.done():
                ready_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready_task
            await bot.close()
            if connect_task is not None:
                try:
                    await asyncio.wait_for(connect_task, timeout=5.0)
                except asyncio.CancelledError:
                    pass
                except Exception:  # connect() may end in ConnectionClosed after close(): not interesting
                    pass
