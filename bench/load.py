"""Many ``/bgm compose`` interactions at once: is every one acknowledged, answered, and the loop free?

    .venv/bin/python bench/load.py [--requests 64] [--tiny] [--length short] [--debug]

Starts ``bgm serve`` in its own process on the shipped model (``models/bgm``; ``--tiny``: an untrained
8-unit model made on the spot), a fake Discord (tests/fake_discord) and the real bot in this process,
then fires ``--requests`` compose interactions from as many users in one burst. Reported (and written
to bench/results/load.json):

- acknowledged within Discord's 3 s, and the slowest acknowledgement;
- answered: a posted track, or a "queue is full, try again in N s" answer (the queue holds
  ``--queue-max`` songs; the rest are refused at once), or an error; hung: no answer by the end;
- time to result (interaction sent -> track posted) p50 / p95 / max, and for all answers;
- peak RSS of this process (bot + fake Discord), of the render workers and of the model server;
- event-loop lag: a task sleeps 10 ms over and over and records how late it wakes (max, p99).

``--debug`` turns on asyncio debug mode and logs every callback that holds the loop over 50 ms.
The fake Discord runs on its own event loop in its own thread, so the lag measured is the bot's loop's;
it shares the process (and the GIL) with the bot, and the machine with the model server and renderers.
``run_load`` is the scenario; tests/reliability/test_load.py runs a shorter one and asserts on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on sys.path, the repository root is not
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "load.json"
ACK_LIMIT_S = 3.0
LAG_LIMIT_S = 0.100
RETRY = re.compile(r"queue is full.*try again in (\d+) s", re.IGNORECASE)


class LagMonitor:
    """Sleeps ``interval`` again and again on the loop; how late each wake-up comes is the loop's lag.

    A late wake-up has two kinds of cause. Work on the loop held it (a long callback, busy or blocked
    in a system call): the bot's fault. Or the whole process waited (for a CPU on a busy machine, or
    for the GIL another thread held). To tell them apart, a thread sleeps the same way alongside; it
    needs neither the loop nor, for long, the GIL the loop's Python code drops every 5 ms. Was the
    thread late too, the process was waiting; was it on time, the loop was held.
    """

    def __init__(self, interval: float = 0.010, spike: float = 0.050) -> None:
        self.interval, self.spike = interval, spike
        self.lags: list[float] = []
        # Each wake-up over ``spike`` late: (when, lag, CPU the loop's thread used meanwhile, how late
        # the side thread was at worst meanwhile).
        self.spikes: list[tuple[float, float, float, float]] = []
        self._side: list[tuple[float, float]] = []  # (monotonic time woken, how late)
        self._task: asyncio.Task | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._side_thread, name="lag-side", daemon=True)
        self.started = 0.0

    def _side_thread(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(self.interval)
            now = time.monotonic()
            self._side.append((now, now - before - self.interval))

    def _side_lateness(self, since: float, until: float) -> float:
        return max((late for at, late in reversed(self._side[-2000:]) if since <= at <= until), default=0.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, thread_cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - before - self.interval)
            self.lags.append(lag)
            if lag > self.spike:
                await asyncio.sleep(2 * self.interval)  # the side thread's wake-up after it, too
                side = self._side_lateness(before, before + self.interval + lag + self.interval)
                self.spikes.append((before, lag, time.thread_time() - thread_cpu, side))

    def start(self) -> LagMonitor:
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        self._thread.start()
        self._task = loop.create_task(self._run(), name="lag-monitor")
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def max(self) -> float:
        return max(self.lags, default=0.0)

    @property
    def held(self) -> list[float]:
        """Late wake-ups caused by work on the loop: its thread busy at least half the time, or the
        side thread on time (the loop blocked in a call without using the CPU)."""
        return [lag for _, lag, cpu, side in self.spikes if cpu >= lag / 2 or side < lag / 2]

    def percentile(self, q: float) -> float:
        return _percentile(self.lags, q)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def peak_rss_mib(pid: int | str = "self") -> float | None:
    """The peak resident set (VmHWM) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@dataclass
class Outcome:
    """What happened to one interaction."""

    kind: str  # track, queue_full, refused, failed, hung
    ack_s: float | None
    result_s: float | None
    retry_after_s: int | None = None
    ephemeral: bool = False
    text: str = ""


def classify(inter) -> Outcome:
    """An interaction's outcome from what the fake Discord recorded.

    Answered: the song posted (an edit carrying files), an immediate message (a refusal), or a
    deferred reply edited into an error (``❌``). Anything else (still thinking, a queue position, a
    stage) is not an answer yet.
    """
    ack, sent, callback, message = inter.ack_latency, inter.dispatched_at, inter.callback, inter.original
    for event in inter.events:
        if event.ok and event.files:
            return Outcome("track", ack, event.at - sent)
    if callback is None or message is None:
        return Outcome("hung", ack, None)
    text = message.content or ""
    if callback.callback_type == 4:
        answered_at = callback.at
    elif text.startswith("❌"):
        edits = [e.at for e in inter.events if e.ok and e.kind == "edit_original"]
        answered_at = edits[-1] if edits else callback.at
    else:
        return Outcome("hung", ack, None, text=text)
    if match := RETRY.search(text):
        return Outcome("queue_full", ack, answered_at - sent, int(match[1]), message.ephemeral, text)
    kind = "failed" if text.startswith("❌") else "refused"
    return Outcome(kind, ack, answered_at - sent, ephemeral=message.ephemeral, text=text)


@dataclass
class LoadReport:
    outcomes: list[Outcome]
    lag: LagMonitor
    seconds: float
    memory: dict = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)

    def summary(self) -> dict:
        acks = [o.ack_s for o in self.outcomes if o.ack_s is not None]
        tracks = [o.result_s for o in self.outcomes if o.kind == "track"]
        answers = [o.result_s for o in self.outcomes if o.result_s is not None]
        return {
            "requests": len(self.outcomes),
            "acknowledged_within_3s": sum(a < ACK_LIMIT_S for a in acks),
            "ack_max_s": round(max(acks, default=0.0), 3),
            "ack_p95_s": round(_percentile(acks, 95), 3),
            "answered": sum(o.kind != "hung" for o in self.outcomes),
            "tracks": self.count("track"),
            "queue_full": self.count("queue_full"),
            "queue_full_with_retry_time": sum(
                o.kind == "queue_full" and bool(o.retry_after_s) for o in self.outcomes
            ),
            "queue_full_ephemeral": sum(o.kind == "queue_full" and o.ephemeral for o in self.outcomes),
            "refused_other": self.count("refused"),
            "failed": self.count("failed"),
            "hung": self.count("hung"),
            "failures": sorted({o.text for o in self.outcomes if o.kind in ("failed", "refused", "hung")}),
            "track_result_s": {
                "p50": round(_percentile(tracks, 50), 2),
                "p95": round(_percentile(tracks, 95), 2),
                "max": round(max(tracks, default=0.0), 2),
            },
            "any_result_s": {
                "p50": round(_percentile(answers, 50), 2),
                "p95": round(_percentile(answers, 95), 2),
            },
            "loop_lag_ms": {
                "max": round(self.lag.max * 1000, 1),
                "p99": round(self.lag.percentile(99) * 1000, 1),
                "samples": len(self.lag.lags),
                "held_by_work_on_the_loop_max": round(max(self.lag.held, default=0.0) * 1000, 1),
                "worst": [
                    {
                        "at_s": round(at - self.lag.started, 2),
                        "lag": round(lag * 1000, 1),
                        "loop_thread_cpu": round(thread * 1000, 1),
                        "side_thread_late": round(side * 1000, 1),
                    }
                    for at, lag, thread, side in sorted(self.lag.spikes, key=lambda s: -s[1])[:5]
                ],
            },
            "peak_rss_mib": self.memory,
            "seconds": round(self.seconds, 1),
        }


@contextlib.asynccontextmanager
async def fake_discord_in_thread():
    """A started fake Discord on an event loop of its own, in a thread of its own.

    Yields the fake and ``on_fake(coroutine)``, which runs a coroutine on the fake's loop and awaits
    its result from the caller's. The bot's loop then carries only the bot's work, so its lag is the
    bot's own (the fake still shares the process, and so the GIL).
    """
    from tests.fake_discord import FakeDiscord

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-discord", daemon=True)
    thread.start()

    def on_fake(coroutine):
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    fake = FakeDiscord()
    try:
        await on_fake(fake.__aenter__())
        try:
            yield fake, on_fake
        finally:
            await on_fake(fake.__aexit__(None, None, None))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 10)
        loop.close()


async def run_load(
    server,
    data_dir: Path,
    *,
    requests: int = 64,
    length: str = "short",
    timeout: float = 900.0,
    debug: bool = False,
    **settings,
) -> LoadReport:
    """Fire ``requests`` compose interactions at once (one user each) at a fresh bot; wait for all.

    ``server`` is anything with ``address`` and ``models_root`` (``ServeProcess``, ``EmbeddedServer``);
    ``settings`` override the bot's (``queue_concurrency``, ``queue_max``...).
    """
    from tests.bot.test_discord import bot_against

    loop = asyncio.get_running_loop()
    if debug:
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        logging.getLogger("asyncio").setLevel(logging.WARNING)
    moods = ("calm", "happy", "sad", "epic", "tense", "playful")

    async def add_members(fake):
        return [fake.add_member(f"listener{i}") for i in range(requests)]

    async def burst(fake, members):
        options = [{"mood": moods[i % len(moods)], "length": length} for i in range(len(members))]
        return await asyncio.gather(
            *(
                fake.invoke_slash("bgm compose", options=o, user=m)
                for o, m in zip(options, members, strict=True)
            )
        )

    async def outcomes_of(interactions):  # read on the fake's loop, where its records change
        return [classify(inter) for inter in interactions]

    async with fake_discord_in_thread() as (fake, on_fake):
        members = await on_fake(add_members(fake))
        async with bot_against(fake, server, data_dir, **settings) as bot:
            lag = LagMonitor().start()
            began = loop.time()
            interactions = await on_fake(burst(fake, members))
            while True:
                outcomes = await on_fake(outcomes_of(interactions))
                if all(o.kind != "hung" for o in outcomes) or loop.time() - began > timeout:
                    break
                await asyncio.sleep(0.25)
            seconds = loop.time() - began
            await lag.stop()
            workers = bot.renderer.pids if bot.renderer else []
            memory = {
                "bot_and_fake_discord": peak_rss_mib(),
                "render_workers": [peak_rss_mib(pid) for pid in workers],
                "model_server": peak_rss_mib(server.process.pid) if hasattr(server, "process") else None,
            }
    if debug:
        loop.set_debug(False)
    return LoadReport(outcomes, lag, seconds, memory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--length", choices=["short", "medium", "long"], default="short")
    parser.add_argument("--tiny", action="store_true", help="an untrained 8-unit model instead of models/bgm")
    parser.add_argument("--concurrency", type=int, default=2, help="songs composed at once (the default)")
    parser.add_argument("--queue-max", type=int, default=20, help="songs waiting at most (the default)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--debug", action="store_true", help="asyncio debug: log callbacks over 50 ms")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from tests.bot.test_discord import ServeProcess

    work = Path(tempfile.mkdtemp(prefix="bgm-load-"))
    models = work / "models"
    if args.tiny:
        from tests.conftest import export_tiny_model

        export_tiny_model(models / "bgm" / "1")
        model = "tiny (untrained, 8 units)"
    else:
        shipped = ROOT / "models" / "bgm"
        if not shipped.is_dir():
            parser.error("no shipped model in models/bgm: pass --tiny")
        shutil.copytree(shipped, models / "bgm")
        model = f"shipped models/bgm (versions {', '.join(sorted(p.name for p in shipped.iterdir()))})"
    load_before = os.getloadavg()
    server = ServeProcess(models)
    try:
        report = asyncio.run(
            run_load(
                server,
                work / "data",
                requests=args.requests,
                length=args.length,
                timeout=args.timeout,
                debug=args.debug,
                queue_concurrency=args.concurrency,
                queue_max=args.queue_max,
                queue_per_user=3,
                cooldown_s=0,
                retry_s=15,
            )
        )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    summary = report.summary()
    ok = {
        "all_acknowledged_within_3s": summary["acknowledged_within_3s"] == summary["requests"],
        "all_answered": summary["hung"] == 0,
        "refusals_say_when_to_retry": summary["queue_full_with_retry_time"] == summary["queue_full"],
        "loop_lag_under_100ms": summary["loop_lag_ms"]["max"] < LAG_LIMIT_S * 1000,
        "loop_never_held_100ms_by_work_on_it": summary["loop_lag_ms"]["held_by_work_on_the_loop_max"]
        < LAG_LIMIT_S * 1000,
    }
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": model,
        "length": args.length,
        "queue": {"concurrency": args.concurrency, "max_waiting": args.queue_max},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        **summary,
        "checks": ok,
        "all_checks_met": all(ok.values()),
    }
    print_report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {args.out}")
    return 0 if results["all_checks_met"] else 1


def print_report(r: dict) -> None:
    print(f"{r['requests']} × /bgm compose ({r['length']}) at once; model: {r['model']}")
    print(f"queue: {r['queue']['concurrency']} at a time, {r['queue']['max_waiting']} waiting at most")
    print(
        f"acknowledged within 3 s: {r['acknowledged_within_3s']}/{r['requests']} (slowest {r['ack_max_s']} s)"
    )
    print(
        f"answered: {r['answered']}/{r['requests']} — {r['tracks']} tracks, {r['queue_full']} queue full"
        f" ({r['queue_full_with_retry_time']} with a retry time, {r['queue_full_ephemeral']} private),"
        f" {r['refused_other']} other refusals, {r['failed']} failed; hung: {r['hung']}"
    )
    t, a = r["track_result_s"], r["any_result_s"]
    print(f"time to track: p50 {t['p50']} s, p95 {t['p95']} s, max {t['max']} s")
    print(f"time to any answer: p50 {a['p50']} s, p95 {a['p95']} s")
    lag = r["loop_lag_ms"]
    print(
        f"event-loop lag: max {lag['max']} ms, p99 {lag['p99']} ms ({lag['samples']} samples);"
        f" longest with the loop busy on its own work: {lag['held_by_work_on_the_loop_max']} ms"
    )
    for spike in lag["worst"]:
        print(
            f"  at {spike['at_s']} s: {spike['lag']} ms late; meanwhile the loop's thread used"
            f" {spike['loop_thread_cpu']} ms CPU; a side thread was up to {spike['side_thread_late']} ms late"
        )
    m = r["peak_rss_mib"]
    print(
        f"peak RSS: bot + fake Discord {m['bot_and_fake_discord']} MiB,"
        f" render workers {m['render_workers']} MiB, model server {m['model_server']} MiB"
    )
    for failure in r["failures"]:
        print(f"  ! {failure}")
    for name, passed in r["checks"].items():
        print(f"{'OK  ' if passed else 'MISS'} {name}")


if __name__ == "__main__":
    sys.exit(main())
