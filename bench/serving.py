"""What serving through the embedded model server costs, next to calling the SavedModel in-process.

    python bench/serving.py [--quick]

Two models: the default one (the latest ``models/bgm/<N>``, or a 128-unit untrained export when there is
none) and a 512-unit untrained export (the seed's size). For each:

- latency: median ms per Predict at batch 1, 4 and 16 through the embedded server (gRPC, the way the bot
  calls it: ``tf.make_tensor_proto`` in, ``tf.make_ndarray`` out) with the production batching.config,
  and through a server with batching off, against ``serving_default`` called in-process on the same
  SavedModel. Target: server (batching on) / in-process <= 1.3x.
- throughput: 16 client threads each sending batch-1 Predicts in a loop for a fixed time, batching on
  vs off. Target: on / off >= 2x.

The servers run in their own processes, as ``bgm serve`` does, so client and server do not share a GIL.
Measurements of the compared paths are interleaved so background load hits them alike. Prints a table,
marks each target OK or MISS, and writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on sys.path, the repository root is not
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from model_server import DEFAULT_BATCHING_CONFIG  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serving.json"
BATCH_SIZES = (1, 4, 16)
CLIENTS = 16
LATENCY_TARGET = 1.3  # server / in-process, at most
THROUGHPUT_TARGET = 2.0  # batching on / off, at least
DEFAULT_VOCAB = 3463  # the vocabulary size of a model trained on the default corpus
N_MOODS = 6
WINDOW = 32


@dataclass(frozen=True)
class Budget:
    latency_s: float  # per (model, batch size) cell, all three paths together
    min_repeats: int
    max_repeats: int
    throughput_s: float  # per (model, batching mode)


FULL = Budget(latency_s=4.0, min_repeats=9, max_repeats=200, throughput_s=6.0)
# Throughput windows stay several seconds even here: with batching, completions come in bursts of up to
# 16 (one merged call), so a short window counts one burst more or less and says little.
QUICK = Budget(latency_s=1.5, min_repeats=5, max_repeats=60, throughput_s=3.0)


# ---------------------------------------------------------------------------------------------- models


def _synthetic_vocab(size: int):
    """``size`` distinct valid tokens: HOLD, single notes, then two- and three-note chords."""
    import itertools

    from bgm.tokens import DURATIONS, HOLD, onset_token
    from training.vocab import Vocabulary

    def chords():
        for n in (1, 2, 3):
            for pitches in itertools.combinations(range(36, 96), n):
                for steps in DURATIONS:
                    yield onset_token(pitches, steps)

    return Vocabulary((HOLD, *itertools.islice(chords(), size - 1)))


def export_untrained(path: Path, vocab_size: int, units: int, arch: str = "blstm") -> None:
    """An untrained model of the production shape, exported with training.export (the model contract)."""
    import keras

    from bgm.moods import MOODS
    from training.export import export
    from training.model import ModelConfig, build

    keras.utils.set_random_seed(0)
    vocab = _synthetic_vocab(vocab_size)
    config = ModelConfig(vocab_size=vocab_size, n_moods=len(MOODS), window=WINDOW, units=units, arch=arch)
    primers = np.random.default_rng(0).integers(0, vocab_size, (len(MOODS), 4, WINDOW)).astype(np.int32)
    export(build(config), config, vocab, primers, {"note": "untrained, for the benches"}, path)


def latest_version(models: Path) -> Path | None:
    versions = [
        p for p in (models / "bgm").glob("*") if p.name.isdigit() and (p / "saved_model.pb").is_file()
    ]
    return max(versions, key=lambda p: int(p.name), default=None)


def prepare_models(root: Path) -> list[dict]:
    """A models folder with ``bgm/<N>`` (default) and ``bgm512/1``; returns what each one is."""
    described = []
    default = latest_version(ROOT / "models")
    if default is not None:
        # Served through a symlink: models/ is never written to.
        (root / "bgm").mkdir(parents=True)
        (root / "bgm" / default.name).symlink_to(default.resolve(), target_is_directory=True)
        info = json.loads((default / "assets.extra/bgm/model.json").read_text())["config"]
        vocab_size = info["vocab_size"]
        described.append(
            {
                "name": "bgm",
                "source": str(default.relative_to(ROOT)),
                "units": info["units"],
                "vocab": vocab_size,
            }
        )
    else:
        vocab_size = DEFAULT_VOCAB
        print("no models/bgm/<N>: exporting an untrained 128-unit model as the default", flush=True)
        export_untrained(root / "bgm" / "1", vocab_size, 128)
        described.append({"name": "bgm", "source": "untrained export", "units": 128, "vocab": vocab_size})
    print("exporting an untrained 512-unit model", flush=True)
    export_untrained(root / "bgm512" / "1", vocab_size, 512)
    described.append({"name": "bgm512", "source": "untrained export", "units": 512, "vocab": vocab_size})
    for model in described:
        model["path"] = str(max((root / model["name"]).iterdir(), key=lambda p: int(p.name)))
    return described


# ---------------------------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``model_server.serve`` (what ``bgm serve`` runs) in a child process."""

    def __init__(self, models: Path, batching: Path | None, log: Path) -> None:
        self.port = _free_port()
        config = repr(str(batching)) if batching is not None else "None"
        code = (
            "from model_server import serve\n"
            f"serve({str(models)!r}, port={self.port}, batching_config={config}, poll_seconds=3600)\n"
        )
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", -1)]
        )
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel).Predict

    def wait_available(self, names: list[str], timeout_s: float = 300.0) -> None:
        status = model_service_pb2_grpc.ModelServiceStub(self.channel).GetModelStatus
        deadline = time.monotonic() + timeout_s
        pending = list(names)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited; its log:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"models {pending} not available after {timeout_s:.0f} s")
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = pending[0]
            try:
                reply = status(request, timeout=2)
                if any(
                    v.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
                    for v in reply.model_version_status
                ):
                    pending.pop(0)
                    continue
            except grpc.RpcError:
                pass
            time.sleep(0.5)

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


# ---------------------------------------------------------------------------------------------- calls


def _inputs(rng: np.random.Generator, vocab: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    tokens = rng.integers(0, vocab, (batch, WINDOW)).astype(np.int32)
    mood = rng.integers(0, N_MOODS, batch).astype(np.int32)
    return tokens, mood


def server_call(predict, name: str, tokens: np.ndarray, mood: np.ndarray) -> np.ndarray:
    """One Predict as the bot makes it, including building the request and decoding the logits."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["tokens"].CopyFrom(tf.make_tensor_proto(tokens))
    request.inputs["mood"].CopyFrom(tf.make_tensor_proto(mood))
    reply = predict(request, timeout=60)
    return tf.make_ndarray(reply.outputs["logits"])


def local_call(function, tokens: np.ndarray, mood: np.ndarray) -> np.ndarray:
    return function(tokens=tf.constant(tokens), mood=tf.constant(mood))["logits"].numpy()


def measure_latency(model: dict, local, on: ServerProcess, off: ServerProcess, budget: Budget) -> list[dict]:
    rng = np.random.default_rng(1)
    paths = {
        "in_process": lambda t, m: local_call(local, t, m),
        "server_batching_on": lambda t, m: server_call(on.predict, model["name"], t, m),
        "server_batching_off": lambda t, m: server_call(off.predict, model["name"], t, m),
    }
    rows = []
    for batch in BATCH_SIZES:
        tokens, mood = _inputs(rng, model["vocab"], batch)
        expected = local_call(local, tokens, mood)
        for name, call in paths.items():  # warm-up; and every path must compute the same logits
            for _ in range(2):
                got = call(tokens, mood)
            if not np.allclose(got, expected, atol=1e-4):
                raise RuntimeError(f"{name} returned different logits for {model['name']} at batch {batch}")
        times: dict[str, list[float]] = {name: [] for name in paths}
        start = time.monotonic()
        repeats = 0
        while repeats < budget.max_repeats and (
            repeats < budget.min_repeats or time.monotonic() - start < budget.latency_s
        ):
            tokens, mood = _inputs(rng, model["vocab"], batch)
            # Interleaved, and in a rotating order, so drifting background load hits every path alike.
            names = list(paths)
            names = names[repeats % 3 :] + names[: repeats % 3]
            for name in names:
                t0 = time.perf_counter()
                paths[name](tokens, mood)
                times[name].append((time.perf_counter() - t0) * 1000)
            repeats += 1
        row = {"model": model["name"], "batch": batch, "repeats": repeats}
        for name, samples in times.items():
            row[f"{name}_ms"] = round(statistics.median(samples), 3)
            row[f"{name}_p90_ms"] = round(float(np.percentile(samples, 90)), 3)
        row["ratio_on"] = round(row["server_batching_on_ms"] / row["in_process_ms"], 3)
        row["ratio_off"] = round(row["server_batching_off_ms"] / row["in_process_ms"], 3)
        row["ok"] = row["ratio_on"] <= LATENCY_TARGET
        rows.append(row)
        print(
            f"  {model['name']:7} batch {batch:2}: in-process {row['in_process_ms']:8.2f} ms, "
            f"server {row['server_batching_on_ms']:8.2f} ms "
            f"(batching off {row['server_batching_off_ms']:8.2f})",
            flush=True,
        )
    return rows


def _load(server: ServerProcess, name: str, vocab: int, seconds: float) -> tuple[int, float]:
    """Predicts completed by CLIENTS threads sending batch-1 requests for ``seconds`` (after a warm-up)."""
    warm_up = 1.0
    start = time.monotonic()
    count_from, stop_at = start + warm_up, start + warm_up + seconds
    counts = [0] * CLIENTS
    errors: list[Exception] = []

    def client(i: int) -> None:
        rng = np.random.default_rng(100 + i)
        try:
            while True:
                tokens, mood = _inputs(rng, vocab, 1)
                server_call(server.predict, name, tokens, mood)
                now = time.monotonic()
                if now >= stop_at:
                    return
                if now >= count_from:
                    counts[i] += 1
        except Exception as error:  # reported after the threads join
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}")
    return sum(counts), seconds


def measure_throughput(model: dict, on: ServerProcess, off: ServerProcess, budget: Budget) -> dict:
    # One window per mode: splitting it (on, off, on, off) would spread drift fairly but double the
    # error of counting bursty completions at the window's edges.
    done = {
        "on": _load(on, model["name"], model["vocab"], budget.throughput_s),
        "off": _load(off, model["name"], model["vocab"], budget.throughput_s),
    }
    row = {"model": model["name"], "clients": CLIENTS, "request_batch": 1, "seconds": budget.throughput_s}
    for mode, (n, seconds) in done.items():
        row[f"batching_{mode}_predicts"] = n
        row[f"batching_{mode}_predicts_per_s"] = round(n / seconds, 1)
        row[f"batching_{mode}_rows_per_s"] = round(n / seconds, 1)  # batch-1 requests: one row each
    off_rate = row["batching_off_predicts_per_s"]
    row["ratio"] = round(row["batching_on_predicts_per_s"] / off_rate, 2) if off_rate else None
    row["ok"] = row["ratio"] is not None and row["ratio"] >= THROUGHPUT_TARGET
    print(
        f"  {model['name']:7} {CLIENTS} clients: batching on {row['batching_on_predicts_per_s']:7.1f}/s, "
        f"off {off_rate:7.1f}/s",
        flush=True,
    )
    return row


# ---------------------------------------------------------------------------------------------- report


def _mark(ok: bool) -> str:
    return "OK" if ok else "MISS"


def print_report(models: list[dict], latency: list[dict], throughput: list[dict]) -> None:
    print()
    for model in models:
        print(f"{model['name']}: {model['units']} units, vocab {model['vocab']} ({model['source']})")
    print(f"\nms per Predict (median); target: server with batching / in-process <= {LATENCY_TARGET}x")
    header = f"{'model':8}{'batch':>6}{'in-process':>12}{'server':>10}{'ratio':>8}  {'':5}"
    print(header + f"{'server, no batching':>21}{'ratio':>8}")
    for r in latency:
        print(
            f"{r['model']:8}{r['batch']:>6}{r['in_process_ms']:>12.2f}{r['server_batching_on_ms']:>10.2f}"
            f"{r['ratio_on']:>7.3f}x  {_mark(r['ok']):5}"
            f"{r['server_batching_off_ms']:>21.2f}{r['ratio_off']:>7.3f}x"
        )
    print(
        f"\nthroughput, {CLIENTS} clients sending batch-1 Predicts; target: batching on / off >= "
        f"{THROUGHPUT_TARGET}x"
    )
    print(f"{'model':8}{'on, Predicts/s':>16}{'off, Predicts/s':>17}{'ratio':>8}")
    for r in throughput:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        print(
            f"{r['model']:8}{r['batching_on_predicts_per_s']:>16.1f}{r['batching_off_predicts_per_s']:>17.1f}"
            f"{ratio:>8}  {_mark(r['ok'])}"
        )
    print("(rows/s = Predicts/s: every request is one row)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter time budgets (noisier figures)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default: {RESULTS})")
    parser.add_argument(
        "--batching-config",
        type=Path,
        default=DEFAULT_BATCHING_CONFIG,
        help="batching parameters of the batching-on server (default: model_server/batching.config)",
    )
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    began = time.monotonic()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bgm-bench-") as tmp:
        root = Path(tmp) / "models"
        models = prepare_models(root)
        print(f"models ready after {time.monotonic() - began:.0f} s", flush=True)
        print("starting two embedded servers (batching on, batching off)", flush=True)
        on = ServerProcess(root, batching=args.batching_config, log=Path(tmp) / "server-on.log")
        off = ServerProcess(root, batching=None, log=Path(tmp) / "server-off.log")
        try:
            local = {m["name"]: tf.saved_model.load(m["path"]).signatures["serving_default"] for m in models}
            for server in (on, off):
                server.wait_available([m["name"] for m in models])
            print(f"servers ready after {time.monotonic() - began:.0f} s", flush=True)
            print("latency", flush=True)
            latency = [row for m in models for row in measure_latency(m, local[m["name"]], on, off, budget)]
            print("throughput", flush=True)
            throughput = [measure_throughput(m, on, off, budget) for m in models]
        finally:
            on.stop()
            off.stop()

    print_report(models, latency, throughput)
    for model in models:
        model.pop("path")
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "seconds": round(time.monotonic() - began, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "batching_config": {"path": str(args.batching_config), "text": args.batching_config.read_text()},
        "targets": {"latency_ratio_max": LATENCY_TARGET, "throughput_ratio_min": THROUGHPUT_TARGET},
        "models": models,
        "latency": latency,
        "throughput": throughput,
        "all_targets_met": all(r["ok"] for r in latency + throughput),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
