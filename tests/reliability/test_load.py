"""Load: a burst of ``/bgm compose`` through the fake Discord, the scenario of bench/load.py, shorter.

Every interaction is acknowledged within Discord's 3 s and answered (a track, or a private "the
queue is full, try again in N s"), none hangs, and the event loop never stalls on the bot's work.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bench.load import ACK_LIMIT_S, LAG_LIMIT_S, LagMonitor, run_load

pytestmark = pytest.mark.serial  # the loop's lag is judged: run alone, not beside other test workers

REQUESTS = 24  # bench/load.py fires 64; the queue holds 2 running + 2 waiting, so 20 are refused


async def test_a_burst_of_compose_requests_is_acknowledged_and_answered_without_blocking_the_loop(
    shared_server, tmp_path, restore_discord
):
    report = await run_load(
        shared_server,
        tmp_path,
        requests=REQUESTS,
        timeout=240,
        queue_concurrency=2,
        queue_max=2,
        queue_per_user=3,
        cooldown_s=0,
        retry_s=15,
    )
    summary = report.summary()
    outcomes = report.outcomes

    assert all(o.ack_s is not None and o.ack_s < ACK_LIMIT_S for o in outcomes), summary
    assert summary["hung"] == 0 and summary["failed"] == 0 and summary["refused_other"] == 0, summary
    # Exactly what the queue can hold is made; everyone else hears at once, privately, when to retry.
    assert summary["tracks"] == 4, summary
    refused = [o for o in outcomes if o.kind == "queue_full"]
    assert len(refused) == REQUESTS - 4
    assert all(o.ephemeral and o.retry_after_s >= 1 and o.result_s < ACK_LIMIT_S for o in refused)

    # The loop's lag, sampled every 10 ms throughout. On this shared 2-core machine the process is at
    # times left waiting for a CPU (or the fake Discord's thread holds the GIL): a late wake-up during
    # which the loop's thread itself ran little. Whenever the loop was late because work on it ran,
    # that must stay under 100 ms; and so must nearly every wake-up, whatever the cause. (At least 2 s
    # of samples: a fast machine answers the whole burst in a few seconds.)
    lag = report.lag
    assert len(lag.lags) > 200 and lag.percentile(99) < LAG_LIMIT_S, summary["loop_lag_ms"]
    assert max(lag.held, default=0.0) < LAG_LIMIT_S, summary["loop_lag_ms"]


async def test_the_lag_monitor_catches_a_loop_held_by_a_blocking_call_or_busy_work():
    monitor = LagMonitor().start()
    await asyncio.sleep(0.1)
    time.sleep(0.15)  # blocked without using the CPU (a synchronous call on the loop)
    await asyncio.sleep(0.1)
    end = time.monotonic() + 0.15
    while time.monotonic() < end:  # busy on the loop
        pass
    await asyncio.sleep(0.1)
    await monitor.stop()
    assert monitor.max >= 0.14
    assert len([lag for lag in monitor.held if lag >= 0.14]) == 2, monitor.spikes
