"""Issue 12's measures, run by bench/generation.py: rendering, serving overhead, ``bgm compose`` with
an embedded server, and 16 songs at once composed and rendered.

Each compared pair is measured alternately (fresh processes where start-up matters), so background
load falls on both alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bgm import contract
from composer.client import ModelClient
from composer.composer import Composer, ComposeRequest, Composition
from composer.render_pool import RenderPool
from composer.song import make_song

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------------------------------- rendering

_RENDER = """
import json, resource, subprocess, sys, tempfile, time
from pathlib import Path
started, cpu = time.perf_counter(), time.process_time()
from bgm.form import Section
job = json.loads(Path(sys.argv[1]).read_text())
sections = [Section(**s) for s in job["sections"]]
out = Path(job["out"])
if job["mode"] == "bgm":
    from composer.render import render_files
    files = render_files(job["tokens"], sections, job["mood"], out, "bgm", tempo=None, fmt="ogg",
                         soundfont=None, max_bytes=10 * 2**20)
    audio, seconds = files.audio, files.seconds
else:  # the seed's way: the FluidSynth program on the MIDI file (midi2audio), then Vorbis
    import soundfile as sf
    from bgm import audio as bgm_audio
    from bgm import loudness as bgm_loudness
    from bgm.arrangement import arrange
    from bgm.form import song_onsets
    from bgm.midi import write_midi
    arrangement = arrange(song_onsets(job["tokens"], sections), len(job["tokens"]), job["mood"], sections)
    midi = write_midi(arrangement, out / "seed.mid")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "seed.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(wav), "-T", "wav", "-O", "float", "-r", "44100",
                        "-g", "0.5", str(bgm_audio.find_soundfont()), str(midi)], check=True)
        data, rate = sf.read(wav, dtype="float32", always_2d=True)
    seconds = arrangement.seconds
    data = bgm_loudness.normalize(bgm_audio.fit_length(data, rate, seconds), rate)
    audio = out / "seed.ogg"
    with sf.SoundFile(audio, "w", rate, 2, subtype="VORBIS", format="OGG") as file:
        for start in range(0, len(data), 65536):
            file.write(data[start : start + 65536])
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": time.perf_counter() - started,
                  "cpu_s": time.process_time() - cpu + children.ru_utime + children.ru_stime,
                  "song_s": seconds, "bytes": Path(audio).stat().st_size}))
"""


def render_speed(composition: Composition, runs: int) -> dict:
    """Seconds to render ``composition`` (MIDI and audio) in a fresh process, bgm's way and the seed's,
    alternately; medians and times real time."""
    results: dict[str, list[dict]] = {"bgm": [], "seed": []}
    with tempfile.TemporaryDirectory(prefix="bgm-render-") as tmp:
        for run in range(runs):
            for mode in ("seed", "bgm") if run % 2 else ("bgm", "seed"):
                job = Path(tmp) / "job.json"
                job.write_text(
                    json.dumps(
                        {
                            "mode": mode,
                            "tokens": list(composition.tokens),
                            "sections": [vars(s) for s in composition.sections],
                            "mood": composition.request.mood,
                            "out": tmp,
                        }
                    )
                )
                command = [sys.executable, "-c", _RENDER, str(job)]
                out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
                results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    report = {}
    for mode, measured in results.items():
        wall = statistics.median(m["wall_s"] for m in measured)
        song = measured[0]["song_s"]
        report[mode] = {
            "runs_s": [m["wall_s"] for m in measured],
            "median_s": wall,
            "cpu_s": statistics.median(m["cpu_s"] for m in measured),
            "x_realtime": song / wall,
            "song_s": song,
            "bytes": measured[0]["bytes"],
        }
    report["speedup"] = report["seed"]["median_s"] / report["bgm"]["median_s"]
    return report


# ------------------------------------------------------------------------------------------- serving

_IN_PROCESS = """
import json, os, statistics, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
step = tf.saved_model.load(sys.argv[1]).signatures["step"]
spec = step.structured_input_signature[1]
out = {}
for batch in (1, 3):
    inputs = {k: np.zeros([batch, *v.shape[1:]], v.dtype.as_numpy_dtype) for k, v in spec.items()}
    call = lambda: {k: t.numpy() for k, t in step(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    call()
    times = []
    for _ in range(int(sys.argv[2])):
        started = time.perf_counter(); call(); times.append(1000 * (time.perf_counter() - started))
    out[batch] = statistics.median(times)
print(json.dumps(out))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(models: Path, log: Path, **options) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    code = (
        "from model_server import DEFAULT_BATCHING_CONFIG, serve\n"
        f"serve({str(models)!r}, port={port}, batching_config=DEFAULT_BATCHING_CONFIG, poll_seconds=3600, "
        f"**{options!r})\n"
    )
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    return process, f"127.0.0.1:{port}"


async def _step_ms(targets: dict[str, str], repeats: int) -> dict[str, dict[int, float]]:
    clients = {name: ModelClient(target, deadline=60, retry_for=300) for name, target in targets.items()}
    try:
        infos = {name: await client.metadata() for name, client in clients.items()}
        times: dict[str, dict[int, list[float]]] = {name: {1: [], 3: []} for name in clients}
        rng = np.random.default_rng(0)
        for _ in range(repeats + 5):
            for name, client in clients.items():  # alternately, so load falls on both alike
                info = infos[name]
                for batch in (1, 3):
                    token = rng.integers(0, len(info.vocab), batch).astype(np.int32)
                    state = np.zeros((batch, info.state_size), np.float32)
                    melody = None
                    if info.position_period:
                        melody = {
                            contract.POSITION: np.zeros(batch, np.int32),
                            contract.LOOKBACK: np.zeros((batch, len(info.lookback_steps)), np.int32),
                        }
                    started = time.perf_counter()
                    await client.step(info.version, token, np.zeros(batch, np.int32), state, melody)
                    times[name][batch].append(1000 * (time.perf_counter() - started))
        return {name: {b: statistics.median(t[5:]) for b, t in by.items()} for name, by in times.items()}
    finally:
        for client in clients.values():
            await client.close()


def serving_overhead(version_dir: Path, repeats: int) -> dict:
    """ms per ``step`` Predict at batch 1 and 3: in process, through the server now, and through the
    server with TF Serving's defaults (typed float_val replies, batches that wait out their timeout)."""
    with tempfile.TemporaryDirectory(prefix="bgm-serving-") as tmp:
        models = Path(tmp) / "models"
        (models / "bgm").mkdir(parents=True)
        (models / "bgm" / version_dir.name).symlink_to(version_dir.resolve(), target_is_directory=True)
        now = _server(models, Path(tmp) / "now.log")
        before = _server(models, Path(tmp) / "before.log", tensor_content=False, run_when_idle=False)
        try:
            served = asyncio.run(_step_ms({"now": now[1], "tf_serving_defaults": before[1]}, repeats))
        finally:
            for process, _ in (now, before):
                process.terminate()
                process.wait(60)
    local = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(version_dir), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    in_process = {int(k): v for k, v in json.loads(local.stdout.strip().splitlines()[-1]).items()}
    report = {"in_process_ms": in_process}
    for name, by_batch in served.items():
        report[f"{name}_ms"] = by_batch
        report[f"{name}_overhead_ms"] = {b: by_batch[b] - in_process[b] for b in by_batch}
    return report


# ------------------------------------------------------------------------------------------- end to end


def compose_runs(runs: int, out_dir: Path, target: str | None, models: Path | None = None) -> list[float]:
    """Wall seconds of each ``bgm compose`` run: against ``target``, or with its own embedded server."""
    env = {k: v for k, v in os.environ.items() if k != "BGM_SERVER"}
    if target:
        env["BGM_SERVER"] = target
    times = []
    for seed in range(runs):
        command = [sys.executable, "-m", "cli.main", "compose", "--mood", "calm", "--seed", str(seed)]
        command += ["--out", str(out_dir)] + (["--models", str(models)] if models else [])
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


async def _compose_and_render(target: str, count: int, out_dir: Path, pool: RenderPool) -> float:
    client = ModelClient(target, "bgm", deadline=120, retry_for=60)
    composer = Composer(client)
    try:
        await client.metadata()
        started = time.perf_counter()
        requests = [ComposeRequest("calm", "medium", seed=300 + i) for i in range(count)]
        await asyncio.gather(
            *(make_song(composer, r, out_dir / str(i), renderer=pool) for i, r in enumerate(requests))
        )
        return time.perf_counter() - started
    finally:
        await client.close()


def rendered_concurrently(target: str, count: int, out_dir: Path, workers: int = 2) -> float:
    """Seconds until ``count`` medium songs requested at once are composed and rendered (MIDI and
    audio), with ``workers`` render processes as the bot runs them."""
    pool = RenderPool(workers, niceness=0)
    try:
        pool.executor.submit(int).result()  # the workers are up
        return asyncio.run(_compose_and_render(target, count, out_dir, pool))
    finally:
        pool.close()


async def one_composition(target: str) -> Composition:
    client = ModelClient(target, "bgm", deadline=60, retry_for=60)
    try:
        return await Composer(client).compose(ComposeRequest("calm", "medium", seed=0))
    finally:
        await client.close()
