"""The pieces under the load and restart guarantees: queue reservations and deadlines, track states."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.tracks.queue import JobQueue, JobTimedOut, QueueClosed, QueueFull
from bot.tracks.store import FAILED, PENDING, POSTED, Track, TrackStore
from composer.composer import ComposeRequest


async def test_a_burst_of_reservations_never_overfills_the_queue():
    queue = JobQueue(concurrency=1, max_waiting=2, per_user=3)
    held, refused = [], []
    for user in range(10):  # all before any of them submits, as when 64 interactions arrive together
        try:
            held.append(queue.reserve(user))
        except QueueFull as error:
            refused.append(error)
    assert len(held) == 3 and len(refused) == 7  # one to run, two to wait
    assert all(error.retry_after >= 1 and "try again in" in str(error) for error in refused)

    gate = asyncio.Event()
    tickets = [queue.submit(h.user, gate.wait, reservation=h) for h in held]
    assert queue.running == 1 and queue.waiting == 2
    with pytest.raises(QueueFull):
        queue.reserve(99)
    gate.set()
    await asyncio.gather(*tickets)


async def test_an_unused_reservation_frees_its_place():
    queue = JobQueue(concurrency=1, max_waiting=1, per_user=1)
    queue.reserve(1)
    second = queue.reserve(2)
    with pytest.raises(QueueFull):
        queue.reserve(3)
    second.release()  # e.g. its interaction could not be answered in time
    second.release()  # twice is harmless
    assert queue.reserve(3).held


async def test_a_job_past_its_deadline_fails_with_a_clear_message_and_the_queue_goes_on():
    queue = JobQueue(concurrency=1, max_waiting=5, per_user=5, job_timeout=0.2)

    async def stuck():
        await asyncio.sleep(30)

    async def own_timeout():
        raise TimeoutError("not the queue's")

    slow, other, fine = (
        queue.submit(1, stuck),
        queue.submit(2, own_timeout),
        queue.submit(3, lambda: asyncio.sleep(0)),
    )
    with pytest.raises(JobTimedOut, match="took longer than 1 s and was stopped"):
        await slow
    with pytest.raises(TimeoutError, match="not the queue's"):
        await other
    await fine
    assert queue.failed == 2 and queue.done == 1


async def test_a_job_accepted_before_a_restart_skips_the_limits_but_not_a_closed_queue():
    queue = JobQueue(concurrency=1, max_waiting=1, per_user=1, cooldown_s=60)
    gate = asyncio.Event()
    tickets = [queue.submit(7, gate.wait, admitted=True) for _ in range(3)]
    assert queue.waiting == 2  # over both limits: these were promised before the restart
    gate.set()
    await asyncio.gather(*tickets)
    await queue.close()
    with pytest.raises(QueueClosed):
        queue.submit(7, gate.wait, admitted=True)


async def test_tracks_are_pending_until_answered_and_found_again_after_a_reopen(tmp_path):
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    tracks = [await store.add(Track(u, f"u{u}", 1, 2, ComposeRequest("calm"))) for u in range(3)]
    await store.update(tracks[0].id, message_id=5, state=POSTED)
    await store.update(tracks[1].id, state=FAILED)
    await store.close()
    store = await TrackStore(tmp_path / "t.sqlite3").open()
    assert [t.id for t in await store.unfinished()] == [tracks[2].id]
    assert (await store.unfinished())[0].state == PENDING
    await store.close()


async def test_a_record_from_before_track_states_is_migrated_without_reviving_old_requests(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE tracks (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL,
        user_name TEXT NOT NULL, guild_id INTEGER, channel_id INTEGER, request TEXT NOT NULL,
        model_version INTEGER, key TEXT, tempo INTEGER, seconds REAL, message_id INTEGER, jump_url TEXT,
        parent_id INTEGER, root_id INTEGER, created_at REAL NOT NULL);
        INSERT INTO tracks (user_id, user_name, request, message_id, created_at)
            VALUES (1, 'a', '{"mood": "calm"}', 10, 0), (2, 'b', '{"mood": "sad"}', NULL, 0);"""
    )
    db.commit()
    db.close()
    store = await TrackStore(path).open()
    assert [(await store.get(i)).state for i in (1, 2)] == [POSTED, FAILED]
    assert await store.unfinished() == []
    new = await store.add(Track(3, "c", 1, 2, ComposeRequest("epic")))
    assert [t.id for t in await store.unfinished()] == [new.id]
    await store.close()
