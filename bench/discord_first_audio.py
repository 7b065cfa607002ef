"""Seconds from ``/bgm compose`` to the first playable audio in the channel, on a warm bot.

    .venv/bin/python bench/discord_first_audio.py [--runs 6] [--length medium] [--models models]

The real bot (``bot.app.create_bot``, discord.py) against the fake Discord of the tests
(``tests/fake_discord``), the model served by ``bgm serve`` in its own process as in production,
render workers as the bot starts them. One song is made first and not counted (the bot is warm
after it). Then songs are asked for one at a time, alternately with the song's opening posted early
(``early_audio``) and without, so load on this shared machine falls on both alike. For each: when
the command reached the fake, when the first audio attachment was in the message, and when the
whole song (audio, MIDI, piano roll) was. Also how many openings were the whole song's opening note
for note (the draft's arrangement lacks verse 2, which moves the song's middle pitch a little).
Writes bench/results/discord_first_audio.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on sys.path, the repository root is not
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from bgm.arrangement import arrange  # noqa: E402
from bgm.form import song_onsets  # noqa: E402
from bgm.harmony import Key  # noqa: E402
from bot.app import create_bot, model_client  # noqa: E402
from bot.settings import BotSettings  # noqa: E402
from composer.composer import Composition  # noqa: E402
from composer.preview import opening_arrangement, opening_of  # noqa: E402
from composer.render import Extras  # noqa: E402
from tests.fake_discord import FakeDiscord, running_bot  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "discord_first_audio.json"
TARGET_S = 4.0
AUDIO = (".ogg", ".mp3", ".wav")


def serve(models: Path) -> tuple[subprocess.Popen, str]:
    """``bgm serve`` in its own process, once it answers health checks."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "cli.main", "serve", "--models", str(models), "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    with grpc.insecure_channel(address) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        for _ in range(600):
            with contextlib.suppress(grpc.RpcError):
                if check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return process, address
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("bgm serve did not come up")


def faithful(record: Path) -> bool:
    """Whether the opening drafted without verse 2 is the posted song's opening, note for note."""
    song = Composition.from_dict(json.loads(record.read_text()))
    tokens, sections = list(song.tokens), list(song.sections)
    key = Key.from_name(song.key) if song.key else None
    whole = arrange(song_onsets(tokens, sections), len(tokens), song.request.mood, sections, None, key)
    kept = [s for s in sections if s.name != "verse2"]
    draft_tokens, draft_sections, at = [], [], 0
    for s in kept:
        draft_sections.append(type(s)(s.name, at, s.steps))
        draft_tokens += tokens[s.start : s.start + s.steps]
        at += s.steps
    drafted, _ = opening_arrangement(
        draft_tokens, draft_sections, song.request.mood, None, song.key, Extras()
    )
    return drafted == opening_of(whole, sections)[0]


async def one_song(fake: FakeDiscord, bot, seed: int, length: str, early: bool) -> dict:
    bot.tracks.settings = bot.tracks.settings.model_copy(update={"early_audio": early})
    asked = time.monotonic()
    inter = await fake.invoke_slash(
        "bgm compose", options={"mood": "calm", "length": length, "seed": seed}, user=fake.regular
    )
    await fake.wait_for(
        lambda: (
            inter.original is not None
            and any(a.filename.endswith(".mid") for a in inter.original.attachments)
        ),
        300,
        what="a song",
    )
    history = inter.original.history
    first = next(r.at for r in history if any(a.filename.endswith(AUDIO) for a in r.attachments))
    whole = next(r.at for r in history if any(a.filename.endswith(".mid") for a in r.attachments))
    opening = any(a.filename.endswith("-opening.ogg") for r in history for a in r.attachments)
    return {
        "early": early,
        "seed": seed,
        "ack_s": inter.ack_latency,
        "first_audio_s": first - asked,
        "whole_song_s": whole - asked,
        "opening_posted": opening,
    }


async def measure(address: str, models: Path, data: Path, runs: int, length: str) -> list[dict]:
    async with FakeDiscord() as fake:
        settings = BotSettings(
            discord_token=fake.token,
            discord_api_base=fake.api_base,
            discord_gateway_url=str(fake.gateway_url),
            guild_ids=[fake.guild.id],
            server=address,
            models_dir=models,
            data_dir=data,
            cooldown_s=0,
            queue_per_user=10,
        )
        client = model_client(settings, address)
        bot = create_bot(settings, client, guild_ready_timeout=0.05)
        try:
            async with running_bot(fake, bot, patch=False, timeout=120):
                await one_song(fake, bot, 999, length, True)  # warms the workers, the server, the caches
                results = []
                for run in range(runs):
                    early = run % 4 in (0, 3)  # on, off, off, on: each one's share of drift evens out
                    result = await one_song(fake, bot, 100 + run, length, early)
                    result["faithful"] = faithful(data / "songs" / str(run + 2) / "song.json")
                    results.append(result)
                    print(json.dumps(result), flush=True)
                return results
        finally:
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--length", default="medium")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    load_before = os.getloadavg()
    process, address = serve(args.models)
    try:
        with tempfile.TemporaryDirectory(prefix="bgm-first-audio-") as tmp:
            results = asyncio.run(measure(address, args.models, Path(tmp), args.runs, args.length))
    finally:
        process.terminate()
        process.wait(60)
    on = [r for r in results if r["early"]]
    off = [r for r in results if not r["early"]]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "length": args.length,
        "runs": results,
        "first_audio_median_s": {
            "early_audio": statistics.median(r["first_audio_s"] for r in on),
            "whole_song_only": statistics.median(r["first_audio_s"] for r in off),
        },
        "whole_song_median_s": {
            "early_audio": statistics.median(r["whole_song_s"] for r in on),
            "whole_song_only": statistics.median(r["whole_song_s"] for r in off),
        },
        "openings_posted": sum(r["opening_posted"] for r in on),
        "openings_faithful": f"{sum(r['faithful'] for r in results)} of {len(results)}",
        "target_s": TARGET_S,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
