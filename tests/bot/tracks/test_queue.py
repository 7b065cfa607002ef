"""The composing queue: concurrency, round robin between users, limits, cooldown, shutdown."""

import asyncio

import pytest

from bot.tracks.queue import Cooldown, JobQueue, QueueClosed, QueueFull, TooManyForUser


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def gated(log, name, gate):
    async def work():
        log.append(("start", name))
        await gate.wait()
        log.append(("end", name))
        return name

    return work


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_jobs_from_several_users_take_turns():
    log, gate = [], asyncio.Event()
    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5)
    tickets = [queue.submit(1, gated(log, f"a{i}", gate)) for i in range(3)]
    tickets.append(queue.submit(2, gated(log, "b0", gate)))
    tickets.append(queue.submit(3, gated(log, "c0", gate)))
    gate.set()
    await asyncio.gather(*tickets)
    assert [name for kind, name in log if kind == "start"] == ["a0", "b0", "c0", "a1", "a2"]


async def test_no_more_than_the_concurrency_limit_run_at_once():
    running, peak = 0, 0

    async def work():
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    queue = JobQueue(concurrency=2, max_waiting=10, per_user=10)
    await asyncio.gather(*[queue.submit(u, work) for u in range(6)])
    assert peak == 2 and queue.done == 6


async def test_positions_are_reported_and_follow_the_round_robin_order():
    gate = asyncio.Event()
    updates = {}
    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5)

    def watch(name):
        return lambda position: updates.setdefault(name, []).append(position)

    queue.submit(1, gated([], "a0", gate), watch("a0"))
    a1 = queue.submit(1, gated([], "a1", gate), watch("a1"))
    b0 = queue.submit(2, gated([], "b0", gate), watch("b0"))
    # b0 was asked for later but goes before a1: user 1 already has a song under way.
    assert updates["a0"] == [0]
    assert (b0.position, a1.position) == (1, 2)
    assert updates["a1"] == [1, 2]
    gate.set()
    await asyncio.gather(a1, b0)
    assert updates["b0"][-1] == 0 and updates["a1"][-1] == 0


async def test_a_full_queue_says_so_with_a_retry_time():
    gate = asyncio.Event()
    queue = JobQueue(concurrency=1, max_waiting=2, per_user=5)
    for user in range(3):  # one running, two waiting
        queue.submit(user, gated([], user, gate))
    with pytest.raises(QueueFull) as refused:
        queue.submit(9, gated([], 9, gate))
    assert refused.value.retry_after >= 5 and "try again in" in str(refused.value)
    assert queue.waiting == 2 and queue.running == 1
    gate.set()


async def test_a_user_waits_out_the_cooldown_and_is_told_how_long():
    clock = Clock()
    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5, cooldown_s=10, clock=clock)
    queue.submit(1, gated([], "a", asyncio.Event()))
    clock.now += 4
    with pytest.raises(Cooldown) as refused:
        queue.submit(1, gated([], "b", asyncio.Event()))
    assert refused.value.retry_after == pytest.approx(6)
    assert "6 s" in str(refused.value)
    queue.submit(2, gated([], "c", asyncio.Event()))  # others are not held back
    clock.now += 6
    queue.submit(1, gated([], "d", asyncio.Event()))


async def test_one_user_cannot_fill_the_queue():
    queue = JobQueue(concurrency=1, max_waiting=10, per_user=2)
    queue.submit(1, gated([], "a", asyncio.Event()))
    queue.submit(1, gated([], "b", asyncio.Event()))
    with pytest.raises(TooManyForUser):
        queue.submit(1, gated([], "c", asyncio.Event()))


async def test_check_refuses_without_queueing_anything():
    queue = JobQueue(concurrency=1, max_waiting=1, per_user=1)
    queue.submit(1, gated([], "a", asyncio.Event()))
    queue.check(2)  # would be accepted
    with pytest.raises(TooManyForUser):
        queue.check(1)
    assert queue.waiting == 0 and queue.running == 1


async def test_a_failing_job_reaches_its_requester_and_the_queue_goes_on():
    async def boom():
        raise ValueError("no")

    async def fine():
        return "ok"

    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5)
    bad, good = queue.submit(1, boom), queue.submit(2, fine)
    with pytest.raises(ValueError):
        await bad
    assert await good == "ok" and (queue.done, queue.failed) == (1, 1)


async def test_closing_tells_every_waiting_and_unfinished_job():
    gate = asyncio.Event()
    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5)
    running = queue.submit(1, gated([], "slow", gate))
    waiting = [queue.submit(u, gated([], u, gate)) for u in (2, 3)]
    await settle()
    cut = await queue.close(grace=0.05)
    assert cut == 3
    for ticket in (running, *waiting):
        with pytest.raises(QueueClosed):
            await ticket
    with pytest.raises(QueueClosed):
        queue.submit(4, gated([], 4, gate))


async def test_closing_lets_running_jobs_finish_within_the_grace():
    async def quick():
        await asyncio.sleep(0.01)
        return "done"

    queue = JobQueue(concurrency=1, max_waiting=10, per_user=5)
    ticket = queue.submit(1, quick)
    await settle()
    assert await queue.close(grace=2) == 0
    assert await ticket == "done"
