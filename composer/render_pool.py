"""Render workers in their own processes, all started at once, replaced when one is killed."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from composer import render

log = logging.getLogger(__name__)
NICENESS = 10  # workers yield the CPU to the event loop that must answer in time
T = TypeVar("T")


def _start_worker(niceness: int, cache_dir: Path | None) -> None:
    os.nice(niceness)
    if cache_dir is not None:
        os.environ["MPLCONFIGDIR"] = str(cache_dir / "matplotlib")


class RenderPool:
    """``run(job)`` in a worker process; ``close()`` when done.

    Workers are spawned, not forked: a fork of a process running gRPC and TensorFlow threads is not
    safe. All of them start at once (each imports numpy and soundfile and starts its synthesisers): a
    pool that spawns on demand would fork from the event loop in the middle of a song (~100 ms). A
    worker killed (the OOM killer) breaks a pool for good, so the first job to find it broken starts
    a new one and every job is run again.
    """

    def __init__(self, workers: int, niceness: int = NICENESS, cache_dir: Path | None = None) -> None:
        """``cache_dir``: where the workers' libraries keep their caches (matplotlib's font list),
        instead of the user's home."""
        self.workers, self.niceness, self.cache_dir = workers, niceness, cache_dir
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.niceness, self.cache_dir),
        )
        for _ in range(self.workers):  # one pending call per worker starts them all now
            executor.submit(render.ready, None, True)  # the bot draws every song's piano roll
        return executor

    @property
    def pids(self) -> list[int]:
        return list(getattr(self.executor, "_processes", None) or ())

    async def run(self, job: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        executor = self.executor
        try:
            return await loop.run_in_executor(executor, job)
        except BrokenProcessPool:
            if self.executor is executor:  # the first job to find it broken replaces it
                log.warning("a render worker died; starting new ones")
                self.executor = self._start()
                executor.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(self.executor, job)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
