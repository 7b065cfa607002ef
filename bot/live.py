"""A message kept current without flooding Discord: the latest text wins, edits never overlap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class LiveText:
    """``set`` from anywhere (even a sync callback); one edit in flight, at most one per ``interval``."""

    def __init__(self, edit: Callable[[str], Awaitable[object]], interval: float = 1.0) -> None:
        self._edit, self.interval = edit, interval
        self._wanted: str | None = None
        self._shown: str | None = None
        self._task: asyncio.Task | None = None
        self._closed = asyncio.Event()

    def set(self, text: str) -> None:
        if self._closed.is_set():
            return
        self._wanted = text
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._wanted != self._shown and not self._closed.is_set():
            text = self._wanted
            try:
                await self._edit(text)
            except Exception as error:  # a lost progress edit must not break the job it reports on
                log.warning("could not update a progress message: %s", error)
            self._shown = text
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self.interval)

    async def flush(self) -> None:
        """Wait until the latest text is shown."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop updating, so a late progress edit cannot overwrite the final message.

        An edit already under way is awaited, not cancelled: discord.py's rate-limit bucket for the
        route is left locked by a cancelled request, and the next edit would wait 30 s.
        """
        self._closed.set()
        if self._task is not None:
            await asyncio.shield(self._task)
