"""Songs per minute with 1, 2 and 4 ``bgm worker`` processes, queue wait under a burst, Redis per song.

    .venv/bin/python bench/scale.py [--workers 1 2 4] [--songs 12] [--burst 200] [--tiny] [--length short]

Everything real and on this machine: a redis-server (appendfsync always), ``bgm serve`` on the
shipped model (``--tiny``: an untrained 8-unit model made on the spot), a fake Discord
(tests/fake_discord) in this process, one ``bgm bot`` process and the workers (one song at a time
each). For each worker count, ``--songs`` composes from as many users in one burst; songs per minute
is songs / (last posted - first asked). Then one burst of ``--burst`` composes (queue limit raised to
take them all) with the largest worker count: queue wait is from the request to the worker's first
progress edit, p50 and p95. Redis per song: commands (INFO commandstats: a Lua script's own calls count) and
network bytes (INFO stats) over each run, divided by its songs; and the queue's own share, without
arq's polling, with ``--burst`` songs waiting at once. Results go to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.jobs.shared_queue import SharedQueue, connect  # noqa: E402
from tests.bot.jobs.test_scaled_out import Cluster  # noqa: E402
from tests.bot.test_discord import ServeProcess, copy_models  # noqa: E402
from tests.fake_discord import FakeDiscord  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

QUEUED = "⏳"  # the bot's own edits (position); a worker's first edit is a stage or the song


async def redis_totals(url: str) -> tuple[int, int]:
    client = connect(url)
    try:
        commands = sum(v["calls"] for k, v in (await client.info("commandstats")).items())
        stats = await client.info("stats")
        return commands, stats["total_net_input_bytes"] + stats["total_net_output_bytes"]
    finally:
        await client.aclose()


def first_worker_edit(inter) -> float | None:
    for event in inter.events:
        content = (event.payload or {}).get("content") if isinstance(event.payload, dict) else None
        if event.kind == "edit_original" and (event.files or (content and not content.startswith(QUEUED))):
            return event.at
    return None


async def run(models: Path, workers: int, songs: int, length: str, folder: Path, queue_max: int) -> dict:
    if (models / "bgm" / "1").is_dir():  # the tiny model
        server = ServeProcess(copy_models(models, folder / "models"))
    else:  # the shipped folder, its labels and versions as they are
        server = ServeProcess(Path(shutil.copytree(models, folder / "models")))
    redis = RedisServer(folder / "redis")
    try:
        async with FakeDiscord() as fake:
            cluster = Cluster(fake, redis.url, server, folder)
            cluster.env.update(
                BGM_QUEUE_CONCURRENCY="1", BGM_QUEUE_MAX=str(queue_max), BGM_JOB_TIMEOUT_S="3600"
            )
            try:
                await cluster.bot("bot")
                for n in range(workers):
                    cluster.start("worker", f"worker-{n}")
                members = [fake.add_member(f"user{n}") for n in range(songs)]
                before = await redis_totals(redis.url)
                started = time.monotonic()
                asked = [
                    await fake.invoke_slash("bgm compose", options={"mood": "calm", "length": length}, user=m)
                    for m in members
                ]
                await fake.wait_for(
                    lambda: all(i.original is not None and i.original.attachments for i in asked),
                    songs * 600,
                    what="every song",
                )
                took = time.monotonic() - started
                after = await redis_totals(redis.url)
                check = connect(redis.url)
                left = await SharedQueue(check).counts()
                await check.aclose()
                waits = sorted(first_worker_edit(i) - i.dispatched_at for i in asked)
            finally:
                cluster.stop()
    finally:
        server.stop()
        redis.stop()
    return {
        "workers": workers,
        "songs": songs,
        "seconds": round(took, 1),
        "songs_per_minute": round(songs / took * 60, 2),
        "queue_wait_p50_s": round(statistics.median(waits), 1),
        "queue_wait_p95_s": round(waits[min(len(waits) - 1, int(0.95 * len(waits)))], 1),
        "redis_commands_per_song": round((after[0] - before[0]) / songs, 1),
        "redis_bytes_per_song": round((after[1] - before[1]) / songs),
        "left_in_queue": left,
    }


async def queue_cost(tickets: int, folder: Path) -> dict:
    """The shared queue's own Redis cost, without arq's polling: ``tickets`` users each queue a song
    at once, then slots take and finish them all (the worst case: every script sees them all waiting)."""
    redis = RedisServer(folder / "redis-cost")
    client = connect(redis.url)
    try:
        queue = SharedQueue(client, max_waiting=tickets + 1)
        before = await redis_totals(redis.url)
        for user in range(tickets):
            await queue.submit(await queue.reserve(user), str(user), {"track_id": user})
        for n in range(tickets):
            taken = await queue.take(f"slot-{n}")
            await queue.finish(f"slot-{n}", taken.user, 10.0)
        after = await redis_totals(redis.url)
    finally:
        await client.aclose()
        redis.stop()
    return {
        "tickets": tickets,
        "commands_per_song": round((after[0] - before[0]) / tickets, 1),
        "bytes_per_song": round((after[1] - before[1]) / tickets),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--burst", type=int, default=200, help="0: skip the burst")
    parser.add_argument("--length", default="short", choices=["short", "medium", "long"])
    parser.add_argument("--tiny", action="store_true", help="an untrained 8-unit model instead of models/")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bgm-scale-") as tmp:
        folder = Path(tmp)
        models = ROOT / "models"
        if args.tiny:
            from tests.conftest import export_tiny_model

            models = folder / "tiny"
            export_tiny_model(models / "bgm" / "1", arch="lstm")
        cost = asyncio.run(queue_cost(args.burst or 200, folder))
        print(json.dumps({"queue_cost": cost}), flush=True)
        results = []
        for n in args.workers:
            result = asyncio.run(run(models, n, args.songs, args.length, folder / f"w{n}", args.songs + 5))
            print(json.dumps(result), flush=True)
            results.append(result)
        burst = None
        if args.burst:
            n = max(args.workers)
            burst = asyncio.run(run(models, n, args.burst, args.length, folder / "burst", args.burst + 5))
            print(json.dumps({"burst": burst}), flush=True)
    out = ROOT / "bench" / "results" / "scale.json"
    out.parent.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    report = {
        "machine": machine,
        "model": "tiny" if args.tiny else "models/",
        "runs": results,
        "burst": burst,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
