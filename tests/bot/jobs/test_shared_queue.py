"""The Redis queue's limits and order hold across processes: each test talks to a real redis-server
through two clients, as two bots would (workers take through a third)."""

from __future__ import annotations

import pytest

from bot.jobs.shared_queue import NO_REDIS, QueueUnavailable, SharedQueue, connect
from bot.tracks.queue import Cooldown, QueueFull, TooManyForUser


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def clients(redis_server):
    made = []

    def make(**limits) -> SharedQueue:
        queue = SharedQueue(connect(redis_server.url), **limits)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.redis.aclose()


async def submit(queue: SharedQueue, user: int, ticket: str) -> int:
    place = await queue.reserve(user)
    return await queue.submit(place, ticket, {"track_id": int(ticket)})


async def test_round_robin_between_users_holds_across_bots(clients):
    one, two, worker = clients(per_user=5), clients(per_user=5), clients()
    for ticket in ("1", "2", "3"):
        await submit(one, 10, ticket)  # a busy user, on one bot
    assert await submit(two, 20, "4") == 2  # another user, on the other bot, goes second
    assert await submit(one, 30, "5") == 3  # a third, third
    taken = [await worker.take(f"slot-{n}") for n in range(5)]
    assert [t.ticket for t in taken] == ["1", "4", "5", "2", "3"]
    assert await worker.take("slot-5") is None


async def test_the_user_with_fewer_songs_under_way_goes_first(clients):
    bot, worker = clients(per_user=5), clients()
    await submit(bot, 10, "1")
    await submit(bot, 10, "2")
    assert (await worker.take("a")).ticket == "1"  # user 10 has one song under way
    await submit(bot, 20, "3")
    assert (await worker.take("b")).ticket == "3"  # user 20 has none: first
    assert await worker.finish("a", 10, 30.0)
    assert (await worker.take("c")).ticket == "2"


async def test_a_retried_slot_resumes_its_ticket_and_finishing_frees_the_place(clients):
    bot, worker = clients(per_user=1), clients()
    await submit(bot, 10, "1")
    first = await worker.take("slot")
    assert (await worker.take("slot")).ticket == first.ticket == "1"  # the worker died; the slot ran again
    with pytest.raises(TooManyForUser):
        await bot.reserve(10)  # the song is still under way
    assert await worker.finish("slot", 10, 12.0)
    assert not await worker.finish("slot", 10, 12.0)  # finished once only
    await bot.reserve(10)
    assert await bot.counts() == (0, 0)


async def test_per_user_cap_counts_every_bot_and_keeps_its_message(clients):
    one, two = clients(per_user=2), clients(per_user=2)
    await submit(one, 10, "1")
    held = await two.reserve(10)  # a reservation counts too
    with pytest.raises(TooManyForUser) as refused:
        await one.reserve(10)
    assert str(refused.value) == "You already have 2 songs on the way; wait for one to finish."
    await held.release()
    await one.reserve(10)


async def test_cooldown_holds_across_bots(clients):
    clock = Clock()
    one, two = clients(cooldown_s=10, clock=clock), clients(cooldown_s=10, clock=clock)
    await submit(one, 10, "1")
    clock.now += 4
    with pytest.raises(Cooldown) as refused:
        await two.reserve(10)
    assert refused.value.retry_after == pytest.approx(6)
    assert str(refused.value) == "Easy there: you can ask again in 6 s."
    await two.reserve(20)  # another user is not held back
    clock.now += 6
    await two.reserve(10)


async def test_queue_limit_counts_waiting_songs_and_reservations_of_every_bot(clients):
    one, two = clients(max_waiting=3), clients(max_waiting=3)
    await submit(one, 1, "1")
    await submit(two, 2, "2")
    await one.reserve(3)
    with pytest.raises(QueueFull) as refused:
        await two.reserve(4)
    assert refused.value.waiting == 3 and refused.value.retry_after >= 5
    assert str(refused.value).startswith("The queue is full (3 songs waiting); try again in ")


async def test_submitting_a_ticket_twice_queues_it_once(clients):
    bot, worker = clients(per_user=5), clients()
    place = await bot.reserve(10)
    await bot.submit(place, "7", {"track_id": 7})
    await bot.submit(place, "7", {"track_id": 7})  # a retry after a dropped connection
    assert await bot.counts() == (1, 0)
    assert (await worker.take("a")).payload == {"track_id": 7, "user": 10}
    assert await worker.take("b") is None


async def test_acknowledged_tickets_survive_a_redis_crash(clients, redis_server):
    bot = clients(per_user=5)
    for ticket in ("1", "2", "3"):
        await submit(bot, 10, ticket)
    redis_server.restart()  # kill -9, then start on the same files
    worker = clients()
    assert [(await worker.take(f"s{n}")).ticket for n in range(3)] == ["1", "2", "3"]
    assert await worker.redis.zcard("arq:queue") == 3  # and the slots that make them


async def test_redis_down_is_one_sentence_and_fast(clients, redis_server):
    bot = clients()
    redis_server.kill()
    with pytest.raises(QueueUnavailable) as refused:
        await bot.reserve(10)
    assert str(refused.value) == NO_REDIS


async def test_without_a_cooldown_requests_racing_between_clock_and_redis_all_pass(clients):
    clock = Clock()
    one, two = clients(clock=clock), clients(clock=clock)
    clock.now += 1
    await one.reserve(10)  # read its clock later, reached Redis first
    clock.now -= 1
    await two.reserve(10)  # read its clock earlier, reached Redis second: no cooldown, no refusal
