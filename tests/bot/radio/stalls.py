"""Telling the machine's stalls from the bot's: a probe process that sleeps 5 ms at a time and notes
each time it woke late. On a busy shared box (the CI machine has 2 cores; a training run may share
them) every process is sometimes not run for a while, and a packet gap then is the machine's, not the
bot's (its audio thread starved of the GIL by the event loop, a blocking call). A process that only
sleeps is the first to run when its turn comes, so the bot's threads are held up longer than the
probe: a machine that held the probe up at all is too busy to time the bot on.
``time.perf_counter`` is the system's monotonic clock, the same in both processes."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import time
last = time.perf_counter()
while True:
    time.sleep(0.005)
    now = time.perf_counter()
    if now - last > 0.02:
        print(last, now - last, flush=True)
    last = now
"""


class StallProbe:
    def __enter__(self) -> StallProbe:
        self.process = subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
        self.stalls: list[tuple[float, float]] = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        self.stalls = [(float(a), float(b)) for a, b in (line.split() for line in out.splitlines())]

    @property
    def held_up_s(self) -> float:
        """How long, in all, the probe was not run when it should have been."""
        return sum(d for _, d in self.stalls)
