"""Radios in one bot process: CPU per radio, the margin songs are made ahead by, packet timing, underruns.

    .venv/bin/python bench/radio.py [--radios 1 2 4] [--seconds 90] [--length medium] [--tiny]

For each count N: ``bgm serve`` in its own process on the shipped model (``--tiny``: an 8-unit model
made on the spot), the fake Discord with its voice server (tests/fake_discord), and the real bot in
this process, with N servers each holding a listener in a voice channel and a radio started there
(moods in turn). Once every radio plays, ``--seconds`` are measured:

- CPU: this process (the bot and the fake Discord; the fake's share is small: decrypting packets),
  the render workers and the model server, in % of one core, and per radio; the audio threads alone
  (discord.py's player: Opus encoding, encryption, sending) per radio;
- margin: for each song after a radio's first, how long before its turn it was ready (the first
  song of a radio is made while the listeners wait: its time to first sound is given apart);
- packet timing: gaps between packets as they arrive (20 ms each when on time), p50 / p99 / max,
  and gaps over 60 ms; a probe process that only sleeps notes how long the machine held it up;
- underruns: 20 ms reads that found nothing to play (the bot's own shortfall; gaps without underruns
  are the machine's or the thread's timing).

Results go to bench/results/radio.json. Run it on a quiet machine: everything here is wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bgm.moods import MOODS  # noqa: E402
from bot.app import create_bot, model_client  # noqa: E402
from bot.settings import BotSettings  # noqa: E402
from tests.bot.radio.stalls import StallProbe  # noqa: E402
from tests.bot.test_discord import ServeProcess  # noqa: E402
from tests.fake_discord import FakeDiscord, running_bot  # noqa: E402
from tests.fake_discord.voice import FakeVoice, make_certificate, trusting_context  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int | str = "self", task: int | None = None) -> float:
    """User + system CPU seconds of a process (or one of its threads), from /proc."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def player_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("audio-player")]


async def measure(
    count: int, seconds: float, server: ServeProcess, cert, key, workdir: Path, length: str
) -> dict:
    async with FakeDiscord() as fake:
        guilds = [fake.guild] + [fake.add_guild(f"guild {i}") for i in range(1, count)]
        places = []
        for i, guild in enumerate(guilds):
            lounge = fake.add_channel("lounge", guild=guild, type=2)
            places.append((guild, lounge, fake.add_member(f"listener{i}", guild=guild)))
        voice = await FakeVoice(fake, cert, key).start()
        settings = BotSettings(
            discord_token=fake.token,
            discord_api_base=fake.api_base,
            discord_gateway_url=str(fake.gateway_url),
            guild_ids=[g.id for g in guilds],
            server=server.address,
            data_dir=workdir / f"data-{count}",
            radio_max=count,
            radio_length=length,
        )
        client = model_client(settings, server.address)
        connector = aiohttp.TCPConnector(limit=0, ssl=trusting_context())
        bot = create_bot(settings, client, guild_ready_timeout=0.05, connector=connector)
        try:
            async with running_bot(fake, bot, patch=False, timeout=60):
                asked = time.perf_counter()
                for i, (guild, lounge, member) in enumerate(places):
                    await voice.join(member, lounge)
                    await fake.invoke_slash(
                        "bgm radio start", options={"mood": MOODS[i % len(MOODS)]}, user=member, guild=guild
                    )
                await fake.wait_for(lambda: len({p.ssrc for p in voice.received()}) == count, 600, what="all")
                first_sound = time.perf_counter() - asked
                sessions = list(bot.radios.sessions.values())
                players = player_threads()
                workers = [server.process.pid, *bot.renderer.pids]
                before = (cpu_s(), [cpu_s(p) for p in workers], [cpu_s("self", t.native_id) for t in players])
                start = time.perf_counter()
                with StallProbe() as probe:
                    await asyncio.sleep(seconds)
                wall = time.perf_counter() - start
                after = (cpu_s(), [cpu_s(p) for p in workers], [cpu_s("self", t.native_id) for t in players])
                underruns = [s.stream.underruns for s in sessions]
                margins = [m for s in sessions for m in s.margins[1:]]
                makes = [made for s in sessions for made in s.made_s]
        finally:
            await client.close()
            await voice.stop()
    gaps = []
    for ssrc in {p.ssrc for p in voice.received()}:
        times = [p.at for p in voice.received(ssrc) if start <= p.at <= start + wall]
        gaps += list(np.diff(times) * 1000)
    gaps_ms = np.array(gaps)
    own = (after[0] - before[0]) / wall * 100
    others = [(a - b) / wall * 100 for a, b in zip(after[1], before[1], strict=True)]
    audio = [(a - b) / wall * 100 for a, b in zip(after[2], before[2], strict=True)]
    total = own + sum(others)
    return {
        "radios": count,
        "seconds": round(wall, 1),
        "first_sound_s": round(first_sound, 1),
        "cpu_percent_of_a_core": {
            "bot_process": round(own, 1),
            "model_server": round(others[0], 1),
            "render_workers": round(sum(others[1:]), 1),
            "total": round(total, 1),
            "per_radio": round(total / count, 1),
            "audio_thread_per_radio": round(float(np.mean(audio)), 2) if audio else None,
        },
        "margin_s": {
            "songs": len(margins),
            "min": round(min(margins), 1) if margins else None,
            "median": round(float(np.median(margins)), 1) if margins else None,
        },
        "song_made_s": {
            "compose_median": round(float(np.median([c for c, _ in makes])), 2),
            "render_median": round(float(np.median([r for _, r in makes])), 2),
        },
        "packet_gap_ms": {
            "p50": round(float(np.percentile(gaps_ms, 50)), 1),
            "p99": round(float(np.percentile(gaps_ms, 99)), 1),
            "max": round(float(gaps_ms.max()), 1),
            "over_60": int((gaps_ms > 60).sum()),
            "jitter_p99": round(float(np.percentile(np.abs(gaps_ms - 20), 99)), 1),
        },
        "underruns": underruns,
        "machine_held_probe_s": round(probe.held_up_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--radios", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--length", default="medium", choices=["short", "medium", "long"])
    parser.add_argument("--tiny", action="store_true", help="an untrained 8-unit model (fast, for a try)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bgm-radio-bench-"))
    models = ROOT / "models"
    if args.tiny:
        from tests.conftest import export_tiny_model

        models = workdir / "models"
        export_tiny_model(models / "bgm" / "1")
    cert, key = make_certificate(workdir)
    os.environ["SSL_CERT_FILE"] = str(cert)
    server = ServeProcess(models)
    results = []
    try:
        for count in args.radios:
            result = asyncio.run(measure(count, args.seconds, server, cert, key, workdir, args.length))
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    out = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average": os.getloadavg(),
        "args": vars(args),
        "results": results,
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "radio.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
