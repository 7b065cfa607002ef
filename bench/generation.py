"""Generation speed: the seed's loop against bgm's real path (composer -> gRPC -> server -> TensorFlow).

    .venv/bin/python bench/generation.py [--quick]

Networks, all with the shipped model's vocabulary (untrained weights where so named: only the cost
counts):
- seed: bench/seed_baseline.py, BLSTM 512 x2, ``model.predict`` per token, in a child process;
- blstm512: the seed's network size as bgm exports it (untrained), re-reading the window per token;
- lstm512: the causal network, 512 units (untrained), carrying its state between tokens;
- shipped-vN: each version in models/bgm/ (the trained default models).

For each bgm network: seconds per song of token generation (default length: four parts of 4x32
tokens, as the seed's song), songs per minute for 16 concurrent requests, and the Predict latency
at batch 1 and 32 set against the machine's limit (FLOPs and weight bytes per token, measured
matmul peak and memory bandwidth). ``--skip-networks`` measures only the default model's songs.

End to end (issue 12), all against the seed's loop measured in the same run:
- ``bgm compose`` (MIDI and audio written) against the warm server with the default model, median
  of several runs; and with the embedded server started by the command;
- rendering a medium song (synthesis, effects, levelling, encoding) in times real time, against
  the FluidSynth program on its MIDI file and libsndfile's Vorbis (the seed's way, midi2audio),
  measured alternately in fresh processes;
- serving: ms per ``step`` Predict at batch 1 and 3 (a song's rows) through the server, as it is
  now (tensor_content replies, no batching wait when a request is alone) and with TF Serving's
  defaults (float_val replies, every batch waits out its timeout), against the same signature
  called in process;
- 16 songs requested at once, composed and rendered (two render workers, as the bot has): songs
  per minute.

Under each target against the seed that the run misses, what bounds it: the CPU seconds a song took
(command and server; rendering alone for songs made together) over the machine's cores.

Peak memory (VmHWM) of the server, of this process (the composer side: it never loads
TensorFlow) and of ``bgm compose``. The server is ``bgm serve`` in its own process, as in
production. Writes bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

import numpy as np  # noqa: E402

from bench import end_to_end  # noqa: E402
from bgm.form import BAR_STEPS, part_bars  # noqa: E402
from composer.client import ModelClient  # noqa: E402
from composer.composer import Composer, ComposeRequest  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "generation.json"
CONCURRENT = 16
TARGETS = {
    "song_speedup": 10.0,
    "concurrent_speedup": 40.0,
    "e2e_median_s": 3.0,  # issue 12 (issue 6 asked 5 s)
    "e2e_speedup": 30.0,
    "embedded_median_s": 8.0,
    "render_x_realtime": 100.0,
    "serving_overhead_ms": 2.0,
    "rendered_concurrent_speedup": 100.0,
}
EMBEDDING = 64 + 16  # token + mood embedding: the LSTM's input width in bgm's networks


# ------------------------------------------------------------------------------------------- the limit


def _lstm_step(inputs: int, units: int) -> tuple[int, int]:
    """FLOPs (multiply-adds x2) and weights of one LSTM step: four gates over [input, state]."""
    return 2 * 4 * units * (inputs + units), 4 * units * (inputs + units + 1)


def cost(arch: str, units: int, vocab: int, window: int = 32, inputs: int = EMBEDDING) -> dict:
    """FLOPs and weight bytes (float32) per generated token; elementwise work is left out (< 2%)."""
    if arch == "lstm":
        (f1, w1), (f2, w2) = _lstm_step(inputs, units), _lstm_step(units, units)
        flops, weights = f1 + f2 + 2 * units * vocab, w1 + w2 + (units + 1) * vocab
    else:  # blstm and the seed: both directions of both layers over the whole window, every token
        (f1, w1), (f2, w2) = _lstm_step(inputs, units), _lstm_step(2 * units, units)
        flops = window * 2 * (f1 + f2) + 2 * 2 * units * vocab
        weights = 2 * (w1 + w2) + (2 * units + 1) * vocab
    return {"flops_per_token": flops, "weight_bytes_per_token": 4 * weights}


_PEAK = """
import json, time, numpy as np, tensorflow as tf
a = tf.random.normal([2048, 2048]); (a @ a).numpy()
flops = bandwidth = 0
x = np.ones(64 * 2**20, np.float32); y = np.empty_like(x); np.copyto(y, x)
for _ in range(5):  # the best of five: background load only ever lowers it
    t = time.perf_counter()
    for _ in range(10): b = a @ a
    b.numpy(); flops = max(flops, 10 * 2 * 2048**3 / (time.perf_counter() - t))
    t = time.perf_counter(); np.copyto(y, x)
    bandwidth = max(bandwidth, 2 * x.nbytes / (time.perf_counter() - t))
print(json.dumps({"matmul_gflops": flops / 1e9, "memory_gb_s": bandwidth / 1e9}))
"""


def machine_peak() -> dict:
    """What this machine sustains: a 2048^2 float32 matmul in TensorFlow, and a 256 MB copy (best of 5)."""
    out = subprocess.run([sys.executable, "-c", _PEAK], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- set-up


def _shipped_versions() -> list[Path]:
    folder = ROOT / "models" / "bgm"
    found = [p for p in folder.glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return sorted(found, key=lambda p: int(p.name))


def prepare_models(root: Path, untrained: bool = True) -> list[dict]:
    """``root/<name>/<N>`` for every network; the shipped ones as symlinks (models/ is never written).
    ``untrained``: also the 512-unit exports of both networks."""
    shipped = _shipped_versions()
    if not shipped:
        raise SystemExit("no models/bgm/<N>: the shipped model is missing")
    networks = []
    for path in shipped:
        config = json.loads((path / "assets.extra/bgm/model.json").read_text())["config"]
        name = f"shipped-v{path.name}"
        (root / name).mkdir(parents=True)
        (root / name / "1").symlink_to(path.resolve(), target_is_directory=True)
        networks.append(
            {
                "name": name,
                "arch": config.get("arch", "blstm"),
                "units": config["units"],
                "vocab": config["vocab_size"],
                "window": config["window"],
                "trained": True,
            }
        )
    # The default model, under the name the bot and `bgm compose` use.
    (root / "bgm").mkdir()
    (root / "bgm" / shipped[-1].name).symlink_to(shipped[-1].resolve(), target_is_directory=True)
    vocab = networks[-1]["vocab"]
    for arch in ("blstm", "lstm") if untrained else ():
        name = f"{arch}512"
        code = (
            "from pathlib import Path\nfrom bench.serving import export_untrained\n"
            f"export_untrained(Path({str(root / name / '1')!r}), {vocab}, 512, {arch!r})\n"
        )
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
        networks.append(
            {"name": name, "arch": arch, "units": 512, "vocab": vocab, "window": 32, "trained": False}
        )
    for network in networks:
        network.update(cost(network["arch"], network["units"], network["vocab"], network["window"]))
    return networks


def vm_hwm_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def wait_until_served(target: str, names: list[str], timeout_s: float = 600) -> None:
    give_up = time.monotonic() + timeout_s
    for name in names:
        client = ModelClient(target, name, deadline=5, retry_for=5)
        try:
            while "AVAILABLE" not in (await _versions_or_none(client)).values():
                if time.monotonic() > give_up:
                    raise RuntimeError(f"{name} was not served within {timeout_s:.0f} s")
                await asyncio.sleep(0.5)
        finally:
            await client.close()


async def _versions_or_none(client: ModelClient) -> dict:
    try:
        return await client.versions()
    except Exception:  # not up yet
        return {}


# ------------------------------------------------------------------------------------------- measures


async def song_times(target: str, name: str, songs: int) -> list[float]:
    """Seconds of token generation for each of ``songs`` default-length songs, one after another."""
    client = ModelClient(target, name, deadline=60, retry_for=30)
    composer = Composer(client)
    try:
        await composer.compose(ComposeRequest("calm", "short", seed=0))  # first call: metadata, warm-up
        times = []
        for seed in range(songs):
            started = time.perf_counter()
            await composer.compose(ComposeRequest(("calm", "happy", "sad")[seed % 3], "medium", seed=seed))
            times.append(time.perf_counter() - started)
        return times
    finally:
        await client.close()


async def concurrent_songs(target: str, name: str, count: int) -> float:
    """Seconds until ``count`` default-length songs requested at once are all composed."""
    client = ModelClient(target, name, deadline=120, retry_for=60)
    composer = Composer(client)
    try:
        await client.metadata()
        started = time.perf_counter()
        await asyncio.gather(
            *(composer.compose(ComposeRequest("calm", "medium", seed=100 + i)) for i in range(count))
        )
        return time.perf_counter() - started
    finally:
        await client.close()


async def predict_ms(target: str, network: dict, batch: int, repeats: int) -> float:
    """Median ms of one Predict of ``batch`` rows: a window (blstm) or one step with its state (lstm)."""
    client = ModelClient(target, network["name"], deadline=60, retry_for=30)
    try:
        info = await client.metadata()
        rng = np.random.default_rng(batch)
        moods = np.zeros(batch, np.int32)
        if info.state_size:
            tokens = rng.integers(0, len(info.vocab), batch).astype(np.int32)
            state = rng.normal(size=(batch, info.state_size)).astype(np.float32)
            call = lambda: client.step(info.version, tokens, moods, state)  # noqa: E731
        else:
            window = rng.integers(0, len(info.vocab), (batch, info.window)).astype(np.int32)
            call = lambda: client.logits(info.version, window, moods)  # noqa: E731
        await call()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        return 1000 * statistics.median(times)
    finally:
        await client.close()


def seed_baseline(parts: int, units: int, vocab: int) -> dict:
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    command = [sys.executable, str(ROOT / "bench" / "seed_baseline.py"), "--parts", str(parts)]
    command += ["--units", str(units), "--vocab", str(vocab), "--json", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return json.loads(out.read_text())


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds a live process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compose_end_to_end(target: str, runs: int, out_dir: Path) -> tuple[list[float], float, list[float]]:
    """Wall seconds of each ``bgm compose`` run against the warm server, the largest peak RSS, and
    each run's CPU seconds (the command's own, threads included)."""
    times, peak, cpu = [], 0.0, []
    env = {**os.environ, "BGM_SERVER": target}
    for seed in range(runs):
        command = [sys.executable, "-m", "cli.main", "compose", "--mood", "calm", "--seed", str(seed)]
        command += ["--out", str(out_dir)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage: its peak memory
        times.append(time.perf_counter() - started)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise RuntimeError(f"bgm compose failed: {process.stderr.read().decode()[-2000:]}")
        peak = max(peak, usage.ru_maxrss / 1024)
        cpu.append(usage.ru_utime + usage.ru_stime)
    return times, peak, cpu


# ------------------------------------------------------------------------------------------- report


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISS"


def print_end_to_end(r: dict) -> None:
    seed, e2e, emb = r["seed"], r["end_to_end"], r["embedded"]
    runs = lambda times: ", ".join(f"{t:.1f}" for t in times)  # noqa: E731
    speedup = seed["s_per_song"] / e2e["median_s"]
    print(
        f"  bgm compose end to end, default model, warm server: median {e2e['median_s']:.2f} s "
        f"(runs {runs(e2e['runs_s'])}) <= {TARGETS['e2e_median_s']:.0f} s "
        f"{_mark(e2e['median_s'] <= TARGETS['e2e_median_s'])}; {speedup:.1f}x the seed's loop per song "
        f">= {TARGETS['e2e_speedup']:.0f}x {_mark(speedup >= TARGETS['e2e_speedup'])}; CPU: the command "
        f"{e2e['cpu_s']:.2f} s, the server {e2e['server_cpu_s_per_song']:.2f} s a song"
    )
    print(
        f"  bgm compose with the embedded server: median {emb['median_s']:.2f} s "
        f"(runs {runs(emb['runs_s'])}) "
        f"<= {TARGETS['embedded_median_s']:.0f} s {_mark(emb['median_s'] <= TARGETS['embedded_median_s'])}"
    )
    render = r["render"]
    bgm, old = render["bgm"], render["seed"]
    print(
        f"  rendering a {bgm['song_s']:.0f} s song (MIDI, synthesis, effects, levelling, Ogg): "
        f"{bgm['median_s']:.2f} s, {bgm['x_realtime']:.0f}x real time (CPU {bgm['cpu_s']:.2f} s) "
        f">= {TARGETS['render_x_realtime']:.0f}x {_mark(bgm['x_realtime'] >= TARGETS['render_x_realtime'])}; "
        f"the seed's way (FluidSynth program, Vorbis) {old['median_s']:.2f} s, {old['x_realtime']:.0f}x "
        f"(CPU {old['cpu_s']:.2f} s): {render['speedup']:.1f}x faster"
    )
    serving = r["serving"]
    overhead = serving["now_overhead_ms"][1]
    print(
        f"  serving, step Predict at batch 1 / 3: in process {serving['in_process_ms'][1]:.2f} / "
        f"{serving['in_process_ms'][3]:.2f} ms; through the server {serving['now_ms'][1]:.2f} / "
        f"{serving['now_ms'][3]:.2f} ms (TF Serving's defaults: {serving['tf_serving_defaults_ms'][1]:.2f} / "
        f"{serving['tf_serving_defaults_ms'][3]:.2f} ms); overhead at batch 1 {overhead:.2f} ms "
        f"<= {TARGETS['serving_overhead_ms']:.0f} ms {_mark(overhead <= TARGETS['serving_overhead_ms'])}"
    )
    together = r["rendered_concurrently"]
    print(
        f"  {CONCURRENT} songs at once, composed and rendered: {together['s']:.1f} s, "
        f"{together['songs_per_min']:.1f} songs/min, {together['speedup']:.0f}x the seed's "
        f">= {TARGETS['rendered_concurrent_speedup']:.0f}x "
        f"{_mark(together['speedup'] >= TARGETS['rendered_concurrent_speedup'])}"
    )


def cpu_bounds(r: dict) -> dict:
    """What the machine's cores allow, from the CPU seconds a song took in this run.

    A warm-server song costs its command's CPU plus the server's; on ``cores`` cores, with composing
    and rendering overlapped perfectly, it cannot finish sooner than that total over the cores. Songs
    composed and rendered together share the server's batches and the command's start-up, but each
    still costs its rendering's CPU: that alone bounds them.
    """
    cores = r.get("cores") or os.cpu_count()  # results written before it was recorded: this machine
    seed_s, seed_per_min = r["seed"]["s_per_song"], r["seed"]["songs_per_min"]
    song_cpu = r["end_to_end"]["cpu_s"] + r["end_to_end"]["server_cpu_s_per_song"]
    best_s = song_cpu / cores
    render_cpu = r["render"]["bgm"]["cpu_s"]
    return {
        "cores": cores,
        "song_cpu_s": song_cpu,
        "best_song_s": best_s,
        "best_speedup": seed_s / best_s,
        "needed_song_s": seed_s / TARGETS["e2e_speedup"],
        "render_cpu_s": render_cpu,
        "best_concurrent_speedup": 60 * cores / render_cpu / seed_per_min,
        "needed_cpu_per_song_s": 60 * cores / (TARGETS["rendered_concurrent_speedup"] * seed_per_min),
    }


def print_bounds(r: dict) -> None:
    """One line per missed speed target against the seed: the CPU figures that bound it."""
    b = cpu_bounds(r)
    seed = r["seed"]
    if seed["s_per_song"] / r["end_to_end"]["median_s"] < TARGETS["e2e_speedup"]:
        print(
            f"  bound: a song is {b['song_cpu_s']:.2f} s of CPU (command and server); on {b['cores']} "
            f"cores at best {b['best_song_s']:.2f} s = {b['best_speedup']:.1f}x the seed's "
            f"{seed['s_per_song']:.1f} s, where {TARGETS['e2e_speedup']:.0f}x needs "
            f"{b['needed_song_s']:.2f} s"
        )
    if r["rendered_concurrently"]["speedup"] < TARGETS["rendered_concurrent_speedup"]:
        print(
            f"  bound: {CONCURRENT} songs at once on {b['cores']} cores reach at best "
            f"{b['best_concurrent_speedup']:.0f}x the seed, by rendering's {b['render_cpu_s']:.2f} s of CPU "
            f"a song alone; {TARGETS['rendered_concurrent_speedup']:.0f}x needs at most "
            f"{b['needed_cpu_per_song_s']:.2f} s a song"
        )


def print_report(r: dict) -> None:
    seed = r["seed"]
    if "machine" in r:
        print(
            f"\nmachine: {r['machine']['matmul_gflops']:.0f} GFLOP/s (float32 matmul), "
            f"{r['machine']['memory_gb_s']:.1f} GB/s (copy)"
        )
    print(f"load average at start {r['load_average']:.1f}, at the end {r['load_average_end']:.1f}")
    print(
        f"seed loop (BLSTM 512x2, model.predict per token): {seed['ms_per_token']:.1f} ms/token, "
        f"{seed['s_per_song']:.1f} s/song, {seed['songs_per_min']:.2f} songs/min"
    )
    print(
        f"\n{'network':12s} {'MFLOP/tok':>9s} {'MB/tok':>7s} {'s/song':>7s} {'x seed':>7s} "
        f"{'songs/min@16':>12s} {'x seed':>7s} {'b1 ms':>7s} {'b1 %lim':>7s} {'b32 ms':>7s} {'b32 %lim':>8s}"
    )
    for n in r["networks"] if "song_speedup" in r["networks"][0] else ():
        print(
            f"{n['name']:12s} {n['flops_per_token'] / 1e6:9.1f} {n['weight_bytes_per_token'] / 1e6:7.1f} "
            f"{n['s_per_song']:7.2f} {n['song_speedup']:6.1f}x {n['songs_per_min_16']:12.1f} "
            f"{n['concurrent_speedup']:6.1f}x {n['b1_ms']:7.2f} {100 * n['b1_fraction']:6.1f}% "
            f"{n['b32_ms']:7.2f} {100 * n['b32_fraction']:7.1f}%"
        )
    print("\ntargets (512 units and the default model):")
    for n in r["networks"] if "song_speedup" in r["networks"][0] else ():
        if n["units"] == 512 or n["name"] == r["default"]:
            print(
                f"  {n['name']:12s} per song {n['song_speedup']:.1f}x >= {TARGETS['song_speedup']:.0f}x "
                f"{_mark(n['song_speedup'] >= TARGETS['song_speedup'])};  16 concurrent "
                f"{n['concurrent_speedup']:.1f}x >= {TARGETS['concurrent_speedup']:.0f}x "
                f"{_mark(n['concurrent_speedup'] >= TARGETS['concurrent_speedup'])}"
            )
    print_end_to_end(r)
    print_bounds(r)
    m = r["memory_mib"]
    print(
        f"\npeak memory: server {m['server']:.0f} MiB, composer (this process) {m['composer']:.0f} MiB, "
        f"bgm compose {m['bgm_compose']:.0f} MiB"
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")


async def measure_networks(target: str, networks: list[dict], seed: dict, peak: dict, quick: bool) -> None:
    songs = 1 if quick else 3
    for n in networks:
        print(f"  {n['name']}: songs ...", flush=True)
        n["song_s"] = await song_times(target, n["name"], songs)
        n["s_per_song"] = statistics.median(n["song_s"])
        n["tokens_per_song"] = 4 * part_bars("medium") * BAR_STEPS  # the seed's song: 4 x 128
        n["song_speedup"] = seed["s_per_song"] / n["s_per_song"]
        n["concurrent_s"] = await concurrent_songs(target, n["name"], CONCURRENT)
        n["songs_per_min_16"] = 60 * CONCURRENT / n["concurrent_s"]
        n["concurrent_speedup"] = n["songs_per_min_16"] / seed["songs_per_min"]
        for batch in (1, 32):
            ms = await predict_ms(target, n, batch, 10 if quick else 30)
            limit_tokens_s = min(
                peak["matmul_gflops"] * 1e9 / n["flops_per_token"],
                peak["memory_gb_s"] * 1e9 * batch / n["weight_bytes_per_token"],
            )
            n[f"b{batch}_ms"] = ms
            n[f"b{batch}_tokens_s"] = 1000 * batch / ms
            n[f"b{batch}_gflops"] = n[f"b{batch}_tokens_s"] * n["flops_per_token"] / 1e9
            n[f"b{batch}_fraction"] = n[f"b{batch}_tokens_s"] / limit_tokens_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed song per network, a one-part seed")
    parser.add_argument(
        "--skip-networks", action="store_true", help="only the default model: no 512-unit exports, no table"
    )
    parser.add_argument("--e2e-runs", type=int, default=5, help="bgm compose runs against the warm server")
    parser.add_argument("--embedded-runs", type=int, default=3, help="bgm compose runs with its own server")
    parser.add_argument("--render-runs", type=int, default=5, help="renders of a medium song, each way")
    args = parser.parse_args(argv)
    result: dict = {"load_average": os.getloadavg()[0], "quick": args.quick, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bgm-generation-") as tmp:
        root = Path(tmp) / "models"
        if not args.skip_networks:
            print("exporting the 512-unit networks ...", flush=True)
        networks = prepare_models(root, untrained=not args.skip_networks)
        if not args.skip_networks:
            print("measuring the machine's peak ...", flush=True)
            result["machine"] = machine_peak()
        print("running the seed's loop ...", flush=True)
        result["seed"] = seed_baseline(1 if args.quick else 4, 512, networks[-1]["vocab"])
        port = _free_port()
        log = (Path(tmp) / "server.log").open("w")
        command = [sys.executable, "-m", "cli.main", "serve", "--models", str(root), "--port", str(port)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        target = f"127.0.0.1:{port}"
        try:
            asyncio.run(wait_until_served(target, [n["name"] for n in networks] + ["bgm"]))
            if not args.skip_networks:
                print("measuring bgm ...", flush=True)
                asyncio.run(measure_networks(target, networks, result["seed"], result["machine"], args.quick))
            print("bgm compose end to end ...", flush=True)
            runs = 3 if args.quick else args.e2e_runs
            server_cpu = process_cpu_s(process.pid)
            times, compose_peak, cpu = compose_end_to_end(target, runs, Path(tmp) / "out")
            result["end_to_end"] = {
                "runs_s": times,
                "median_s": statistics.median(times),
                "cpu_s": statistics.median(cpu),
                "server_cpu_s_per_song": (process_cpu_s(process.pid) - server_cpu) / runs,
            }
            print("bgm compose with the embedded server ...", flush=True)
            times = end_to_end.compose_runs(args.embedded_runs, Path(tmp) / "out", None, ROOT / "models")
            result["embedded"] = {"runs_s": times, "median_s": statistics.median(times)}
            print("rendering, bgm's way and the seed's ...", flush=True)
            composition = asyncio.run(end_to_end.one_composition(target))
            result["render"] = end_to_end.render_speed(composition, 3 if args.quick else args.render_runs)
            print(f"{CONCURRENT} songs at once, composed and rendered ...", flush=True)
            seconds = end_to_end.rendered_concurrently(target, CONCURRENT, Path(tmp) / "together")
            songs_per_min = 60 * CONCURRENT / seconds
            result["rendered_concurrently"] = {
                "s": seconds,
                "songs_per_min": songs_per_min,
                "speedup": songs_per_min / result["seed"]["songs_per_min"],
            }
            result["memory_mib"] = {
                "server": vm_hwm_mib(process.pid),
                "composer": vm_hwm_mib(),
                "bgm_compose": compose_peak,
            }
        finally:
            process.terminate()
            process.wait(60)
            log.close()
        print("serving: in process, through the server now and with TF Serving's defaults ...", flush=True)
        result["serving"] = end_to_end.serving_overhead(_shipped_versions()[-1], 50 if args.quick else 200)
    result["load_average_end"] = os.getloadavg()[0]
    result["networks"] = networks
    result["default"] = f"shipped-v{_shipped_versions()[-1].name}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print_report(result)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
