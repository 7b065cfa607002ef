"""The composing queue: a concurrency limit, round robin between users, a cooldown, a bounded wait.

No Discord in here. ``submit`` answers at once, either with a ticket (whose position is kept up
to date through its ``on_update`` callback) or with an error that says when to try again;
nothing is dropped silently: on ``close`` every waiting or running ticket fails with
``QueueClosed``, so whoever awaits it can tell its requester.

A request that must do some work before it has a job to queue (answer Discord, record the track)
first ``reserve``s its place: the reservation counts against every limit at once, so a burst of
requests arriving together cannot all pass the check and then overfill the queue. Every job runs
under a deadline (``job_timeout``): a job stuck on a flapping server fails with ``JobTimedOut``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bgm.errors import BgmError

DEFAULT_JOB_S = 30.0  # a first guess at a song's time, until real ones are measured


class QueueError(BgmError):
    """The queue said no; ``retry_after`` is seconds until asking again makes sense (0: unknown)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class QueueFull(QueueError):
    def __init__(self, waiting: int, retry_after: float) -> None:
        self.waiting = waiting
        super().__init__(
            f"The queue is full ({waiting} songs waiting); try again in {_seconds(retry_after)}.", retry_after
        )


class Cooldown(QueueError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Easy there: you can ask again in {_seconds(retry_after)}.", retry_after)


class TooManyForUser(QueueError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"You already have {limit} songs on the way; wait for one to finish.")


class QueueClosed(BgmError):
    """The bot is shutting down; the job was not (or not completely) done."""


class JobTimedOut(BgmError):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"This song took longer than {_seconds(seconds)} and was stopped; try again later.")


class Reservation:
    """A place held in the queue for one user until ``JobQueue.submit`` uses it or ``release`` frees it."""

    def __init__(self, queue: JobQueue, user: int) -> None:
        self.queue, self.user = queue, user
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.queue._reserved[self.user] -= 1
            if not self.queue._reserved[self.user]:
                del self.queue._reserved[self.user]


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value))} s"


@dataclass(eq=False)
class Ticket:
    id: int
    user: int
    work: Callable[[], Awaitable[Any]] = field(repr=False)
    on_update: Callable[[int], None] | None = field(default=None, repr=False)
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    position: int = 0  # 1-based place among those waiting; 0 once it has started

    def __await__(self):
        return self.future.__await__()


class JobQueue:
    """Runs at most ``concurrency`` jobs; the next one comes from the next user in turn (see ``_order``)."""

    def __init__(
        self,
        concurrency: int = 2,
        max_waiting: int = 20,
        per_user: int = 3,
        cooldown_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        job_timeout: float | None = 600.0,
    ) -> None:
        self.concurrency, self.max_waiting = concurrency, max_waiting
        self.per_user, self.cooldown_s = per_user, cooldown_s
        self.clock, self.job_timeout = clock, job_timeout
        self._reserved: Counter[int] = Counter()
        self.done = self.failed = 0
        self._waiting: dict[int, deque[Ticket]] = {}
        self._served: dict[int, int] = {}  # user: serial number of their last start
        self._serial = 0
        self._running: dict[Ticket, tuple[asyncio.Task, float]] = {}
        self._last_submit: dict[int, float] = {}
        self._mean_s = DEFAULT_JOB_S
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    @property
    def running(self) -> int:
        return len(self._running)

    def reserve(self, user: int) -> Reservation:
        """Hold a place for ``user`` (or raise what ``submit`` would), to ``submit`` into a moment later."""
        self.check(user)
        self._last_submit[user] = self.clock()
        self._reserved[user] += 1
        return Reservation(self, user)

    def submit(
        self,
        user: int,
        work: Callable[[], Awaitable[Any]],
        on_update: Callable[[int], None] | None = None,
        *,
        reservation: Reservation | None = None,
        admitted: bool = False,
    ) -> Ticket:
        """Queue ``work()`` for ``user``, or raise a ``QueueError`` saying why not and when to retry.

        With a held ``reservation`` (or ``admitted``: a job accepted before, e.g. by the bot before a
        restart) the limits were already passed and only a closed queue refuses.
        """
        if self._closed:
            raise QueueClosed("The bot is shutting down; ask again in a minute.")
        if reservation is not None and reservation.held:
            reservation.release()
        elif not admitted:
            self.check(user)
            self._last_submit[user] = self.clock()
        ticket = Ticket(next(self._ids), user, work, on_update)
        self._waiting.setdefault(user, deque()).append(ticket)
        self._pump()
        return ticket

    def check(self, user: int) -> None:
        """Raise what ``submit`` would raise for ``user`` now (so a refusal can be answered privately)."""
        if self._closed:
            raise QueueClosed("The bot is shutting down; ask again in a minute.")
        now = self.clock()
        last = self._last_submit.get(user)
        if last is not None and now - last < self.cooldown_s:
            raise Cooldown(self.cooldown_s - (now - last))
        mine = len(self._waiting.get(user, ())) + sum(t.user == user for t in self._running)
        if mine + self._reserved[user] >= self.per_user:
            raise TooManyForUser(self.per_user)
        # A reservation becomes a waiting job a moment later (or a running one, when a slot is free).
        free_slots = max(0, self.concurrency - len(self._running))
        ahead = self.waiting + max(0, self._reserved.total() - free_slots)
        if ahead >= self.max_waiting:
            raise QueueFull(ahead, self._retry_estimate(now))

    def _retry_estimate(self, now: float) -> float:
        # A place frees up when the running job that started first finishes.
        oldest = min((started for _, started in self._running.values()), default=now)
        return max(5.0, self._mean_s - (now - oldest))

    def _order(self) -> list[Ticket]:
        """Waiting tickets in the order they will start, if nothing running finished meanwhile.

        Next is always the user with the fewest songs under way, then the one served longest ago
        (never served: first), then the oldest request: a round robin that one busy user cannot
        jump, whenever the others arrive.
        """
        queues = {user: list(tickets) for user, tickets in self._waiting.items()}
        under_way = Counter(t.user for t in self._running)
        served, serial = dict(self._served), self._serial
        order = []
        while queues:
            user = min(queues, key=lambda u: (under_way[u], served.get(u, -1), queues[u][0].id))
            order.append(queues[user].pop(0))
            under_way[user] += 1
            serial += 1
            served[user] = serial
            if not queues[user]:
                del queues[user]
        return order

    def _pump(self) -> None:
        while len(self._running) < self.concurrency and self._waiting:
            ticket = self._order()[0]
            self._waiting[ticket.user].popleft()
            if not self._waiting[ticket.user]:
                del self._waiting[ticket.user]
            self._serial += 1
            self._served[ticket.user] = self._serial
            task = asyncio.get_running_loop().create_task(self._run(ticket), name=f"bgm-job-{ticket.id}")
            self._running[ticket] = (task, self.clock())
            self._notify(ticket, 0)
        for place, ticket in enumerate(self._order(), 1):
            if ticket.position != place:
                self._notify(ticket, place)

    def _notify(self, ticket: Ticket, position: int) -> None:
        ticket.position = position
        if ticket.on_update is not None:
            ticket.on_update(position)

    async def _run(self, ticket: Ticket) -> None:
        started = self.clock()
        deadline = asyncio.timeout(self.job_timeout)
        try:
            async with deadline:
                result = await ticket.work()
        except TimeoutError as error:  # the job's deadline, or a timeout of its own
            self.failed += 1
            if not ticket.future.done():
                ticket.future.set_exception(JobTimedOut(self.job_timeout) if deadline.expired() else error)
        except asyncio.CancelledError:
            if not ticket.future.done():
                ticket.future.set_exception(QueueClosed("The bot restarted while making this song."))
            self._finished(ticket)
            raise
        except Exception as error:  # handed to whoever awaits the ticket
            self.failed += 1
            if not ticket.future.done():
                ticket.future.set_exception(error)
        else:
            self.done += 1
            self._mean_s = 0.8 * self._mean_s + 0.2 * (self.clock() - started)
            if not ticket.future.done():
                ticket.future.set_result(result)
        self._finished(ticket)

    def _finished(self, ticket: Ticket) -> None:
        self._running.pop(ticket, None)
        if not self._closed:
            self._pump()

    async def close(self, grace: float = 5.0) -> int:
        """Refuse new jobs, fail the waiting ones, give running ones ``grace`` seconds; how many were cut."""
        self._closed = True
        cut = 0
        for ticket in self._order():
            ticket.future.set_exception(QueueClosed("The bot is restarting; your song was not started."))
            cut += 1
        self._waiting.clear()
        tasks = [task for task, _ in self._running.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
                cut += 1
            if pending:
                await asyncio.wait(pending)
        return cut
