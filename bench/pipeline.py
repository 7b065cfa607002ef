"""Pipelined rendering against rendering after composing, alternately, in one run.

    .venv/bin/python bench/pipeline.py [--runs 6] [--length medium] [--models models]

``make_song`` (what ``bgm compose`` runs after its start-up) against ``bgm serve`` in its own
process, as the CLI makes a song (render threads in this process): with ``pipeline`` the draft's
spans (all but verse 2's) are synthesised while verse 2 is composed; without, everything is
rendered once the song is composed. Seconds from request to files written, medians, and the same
with a render worker process as the bot has. Writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.discord_first_audio import serve  # noqa: E402
from composer.client import ModelClient  # noqa: E402
from composer.composer import Composer, ComposeRequest  # noqa: E402
from composer.render import ready  # noqa: E402
from composer.render_pool import RenderPool  # noqa: E402
from composer.song import make_song  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline.json"


async def measure(address: str, runs: int, length: str, out: Path, pool: RenderPool | None) -> dict:
    client = ModelClient(address, "bgm", deadline=120, retry_for=60)
    composer = Composer(client)
    times: dict[str, list[float]] = {"pipelined": [], "after_composing": []}
    try:
        await client.metadata()
        await make_song(composer, ComposeRequest("calm", length, seed=999), out / "warm", renderer=pool)
        for run in range(runs):
            order = ("pipelined", "after_composing") if run % 2 == 0 else ("after_composing", "pipelined")
            for mode in order:
                request = ComposeRequest("calm", length, seed=200 + run)
                started = time.perf_counter()
                await make_song(
                    composer, request, out / mode / str(run), renderer=pool, pipeline=mode == "pipelined"
                )
                times[mode].append(time.perf_counter() - started)
    finally:
        await client.close()
    report = {mode: {"runs_s": t, "median_s": statistics.median(t)} for mode, t in times.items()}
    report["gain"] = report["after_composing"]["median_s"] / report["pipelined"]["median_s"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--length", default="medium")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    load_before = os.getloadavg()
    process, address = serve(args.models)
    ready()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_before": load_before}
    try:
        with tempfile.TemporaryDirectory(prefix="bgm-pipeline-") as tmp:
            report["threads"] = asyncio.run(measure(address, args.runs, args.length, Path(tmp), None))
            print(json.dumps(report["threads"]), flush=True)
            pool = RenderPool(1, niceness=0)
            try:
                pool.executor.submit(int).result()
                report["worker"] = asyncio.run(measure(address, args.runs, args.length, Path(tmp), pool))
            finally:
                pool.close()
    finally:
        process.terminate()
        process.wait(60)
    report["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
