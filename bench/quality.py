"""Quality, measured: generated songs against the training corpus, with sampling and with greedy argmax.

    python bench/quality.py [--songs N] [--models DIR] [--server HOST:PORT] [--length short|medium]
                            [--json OUT]

Composes ``--songs`` songs per mood (seeds 0..N-1) through the model server (an embedded one on
``models/``, latest version, unless ``--server``), once with the composer's sampling (temperature and
top-p per mood) and once with the seed's greedy argmax, all songs at once so the server batches
them. Every generated part (verse 1, chorus, verse 2, bridge; the laid-out song repeats the chorus
by design) is measured with ``bgm.metrics``; so are part-sized chunks of a seeded sample of corpus
pieces, which gives each metric's corpus mean and standard deviation. Each song as a whole is
classified with the same rule that labels the corpus (``bgm.moods``).

Targets (issue 4), judged on the sampled songs; greedy is shown for contrast:
- each metric's mean within one corpus standard deviation of the corpus mean;
- at least 80% of each mood's songs classified as that mood;
- no song with a back-to-back repeated loop longer than the corpus's longest.

Prints a table with PASS/MISS per target and writes everything, per song too, as JSON
(default ``bench/results/quality.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bgm.form import LENGTHS, part_steps, song_onsets  # noqa: E402
from bgm.metrics import METRICS, measure, summary  # noqa: E402
from bgm.moods import CHORDAL, DENSE, MOODS, SPARSE, features, mood_of  # noqa: E402
from bot.sampling import greedy  # noqa: E402

DECODERS = ("sampled", "greedy")
MOOD_TARGET = 0.8
LABELS = {
    "pitch_class_entropy": "pitch-class entropy (bits)",
    "scale_consistency": "scale consistency",
    "empty_beat_rate": "empty-beat rate",
    "groove_consistency": "groove consistency",
    "longest_loop": "longest loop (tokens)",
}
SONG_METER = "4/4"  # songs are rendered in 4/4 bars of 16 steps


def greedy_decoder(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator):
    """The seed's argmax behind the composer's decoder signature (temperature, top-p and rng unused)."""
    return greedy(logits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=10, help="songs per mood and decoder (seeds 0..N-1)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder to serve")
    parser.add_argument("--server", help="HOST:PORT of a running model server (else an embedded one)")
    parser.add_argument("--model", default="bgm", help="model name on the server")
    parser.add_argument("--length", choices=[x for x in LENGTHS if x != "long"], default="medium")
    parser.add_argument("--moods", nargs="+", choices=MOODS, default=list(MOODS), metavar="MOOD")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    parser.add_argument(
        "--corpus", type=Path, nargs="+", help="music files or folders (default: the default corpus)"
    )
    parser.add_argument("--corpus-pieces", type=int, default=2000, help="seeded sample of corpus pieces")
    parser.add_argument("--corpus-seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "bgm" / "parsed")
    parser.add_argument("--concurrency", type=int, default=128, help="songs composed at once at most")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per Predict call")
    args = parser.parse_args(argv)
    if args.songs < 1:
        parser.error("--songs must be at least 1")
    return args


@contextlib.contextmanager
def model_server(args: argparse.Namespace) -> Iterator[str]:
    if args.server:
        yield args.server
        return
    from model_server import DEFAULT_BATCHING_CONFIG, EmbeddedServer

    if not any((args.models / args.model).glob("[0-9]*/saved_model.pb")):
        raise FileNotFoundError(f"no model in {args.models / args.model}: train one or pass --models")
    print(f"starting the embedded model server on {args.models} ...", flush=True)
    with EmbeddedServer(args.models, batching_config=DEFAULT_BATCHING_CONFIG) as server:
        yield server.address


# --- composing ---------------------------------------------------------------------------------------


async def compose_all(args: argparse.Namespace, target: str):
    """The model's metadata and ``{decoder: [Composition]}``, every song composed concurrently."""
    from bot.composer import Composer, ComposeRequest
    from bot.serving import ModelClient

    client = ModelClient(target, args.model, deadline=args.deadline, retry_for=args.deadline)
    try:
        info = await client.metadata()
        composers = {"sampled": Composer(client), "greedy": Composer(client, greedy_decoder)}
        jobs = [
            (decoder, ComposeRequest(mood=mood, length=args.length, seed=seed))
            for decoder in DECODERS
            for mood in args.moods
            for seed in range(args.songs)
        ]
        gate = asyncio.Semaphore(args.concurrency)
        started = time.perf_counter()
        # Every song makes one Predict call per step of each of its two passes: count them for progress.
        total_calls = len(jobs) * 2 * part_steps(args.length, info.window)
        calls = 0
        logits = client.logits

        async def counted_logits(*a, **k):
            nonlocal calls
            calls += 1
            return await logits(*a, **k)

        client.logits = counted_logits

        async def one(decoder: str, request):
            async with gate:
                return await composers[decoder].compose(request)

        async def ticker():
            while True:
                await asyncio.sleep(15)
                elapsed = time.perf_counter() - started
                print(f"  {calls / total_calls:.0%} of the steps ({elapsed:.0f} s)", flush=True)

        print(
            f"composing {len(jobs)} songs ({args.songs} per mood, sampled and greedy) "
            f"on model {args.model} version {info.version} ...",
            flush=True,
        )
        ticking = asyncio.create_task(ticker())
        try:
            results = await asyncio.gather(*(one(d, r) for d, r in jobs))
        finally:
            ticking.cancel()
        out: dict[str, list] = {d: [] for d in DECODERS}
        for (decoder, _), composition in zip(jobs, results, strict=True):
            out[decoder].append(composition)
        return info, out, time.perf_counter() - started
    finally:
        await client.close()


def parts_of(composition) -> dict[str, list[str]]:
    """Each generated part once (the layout plays the chorus three times)."""
    parts: dict[str, list[str]] = {}
    for section in composition.sections:
        parts.setdefault(
            section.name, list(composition.tokens[section.start : section.start + section.steps])
        )
    return parts


def song_record(decoder: str, composition) -> dict:
    tokens = list(composition.tokens)
    f = features(song_onsets(tokens, list(composition.sections)), len(tokens), SONG_METER)
    parts = {name: measure(part) for name, part in parts_of(composition).items()}
    return {
        "decoder": decoder,
        "mood": composition.request.mood,
        "seed": composition.request.seed,
        "model_version": composition.model_version,
        "classified": mood_of(f),
        "features": f.to_dict(),
        "longest_loop": int(max(m["longest_loop"] for m in parts.values())),
        "parts": parts,
    }


# --- the corpus --------------------------------------------------------------------------------------


def corpus_chunks(args: argparse.Namespace, steps: int) -> tuple[int, int, list[list[str]]]:
    """Pieces available, pieces sampled, and every whole ``steps``-long chunk of the sampled pieces."""
    from training.corpus import collect, default_corpus_files, load

    files = args.corpus or default_corpus_files()
    sources, _ = collect(files)
    pieces, _ = load(sources, args.cache_dir, progress=False)
    if not pieces:
        raise FileNotFoundError("the corpus has no usable pieces")
    rng = np.random.default_rng(args.corpus_seed)
    picked = sorted(rng.choice(len(pieces), size=min(args.corpus_pieces, len(pieces)), replace=False))
    chunks = []
    for i in picked:
        tokens = list(pieces[i].tokens)
        chunks += [tokens[start : start + steps] for start in range(0, len(tokens) - steps + 1, steps)]
    return len(pieces), len(picked), chunks


# --- the report --------------------------------------------------------------------------------------


def evaluate(args, info, songs: dict[str, list[dict]], corpus: dict, steps: int, compose_s: float) -> dict:
    corpus_stats = corpus["metrics"]
    decoders = {}
    for decoder, records in songs.items():
        part_values = {m: [r["parts"][p][m] for r in records for p in r["parts"]] for m in METRICS}
        metrics = {}
        for m in METRICS:
            s = summary(part_values[m])
            c = corpus_stats[m]
            s["within_one_std"] = bool(
                not math.isnan(s["mean"]) and abs(s["mean"] - c["mean"]) <= c["std"] + 1e-12
            )
            metrics[m] = s
        moods = {}
        for mood in args.moods:
            mine = [r for r in records if r["mood"] == mood]
            hits = sum(r["classified"] == mood for r in mine)
            moods[mood] = {
                "songs": len(mine),
                "matched": hits,
                "share": hits / len(mine),
                "classified_as": dict(Counter(r["classified"] for r in mine).most_common()),
                "features": {
                    "minor_share": sum(r["features"]["mode"] == "minor" for r in mine) / len(mine),
                    "density": float(np.mean([r["features"]["density"] for r in mine])),
                    "texture": float(np.mean([r["features"]["texture"] for r in mine])),
                },
                "metrics": {
                    m: summary(r["parts"][p][m] for r in mine for p in r["parts"])["mean"] for m in METRICS
                },
            }
        loops = [r["longest_loop"] for r in records]
        part_loops = part_values["longest_loop"]
        decoders[decoder] = {
            "metrics": metrics,
            "moods": moods,
            "longest_loop": max(loops),
            "songs_over_corpus_longest": sum(x > corpus["longest_loop"] for x in loops),
            "parts_played_twice_share": sum(x >= steps // 2 for x in part_loops) / len(part_loops),
        }

    sampled = decoders["sampled"]
    targets = [
        {
            "target": f"{LABELS[m]} mean within one std of the corpus",
            "pass": sampled["metrics"][m]["within_one_std"],
        }
        for m in METRICS
    ]
    targets += [
        {
            "target": f"{mood}: at least {MOOD_TARGET:.0%} of songs classified {mood}",
            "pass": sampled["moods"][mood]["share"] >= MOOD_TARGET,
        }
        for mood in args.moods
    ]
    loop_target = f"no song loops longer than the corpus's longest ({corpus['longest_loop']} tokens)"
    if corpus["longest_loop"] >= steps // 2:
        loop_target += f"; that is the ceiling for {steps}-step parts, so this target cannot fail"
    targets.append({"target": loop_target, "pass": sampled["songs_over_corpus_longest"] == 0})
    return {
        "model": {"name": args.model, "version": info.version, "window": info.window, "info": info.info},
        "server": args.server or f"embedded on {args.models}",
        "length": args.length,
        "part_steps": steps,
        "songs_per_mood": args.songs,
        "moods": list(args.moods),
        "compose_seconds": round(compose_s, 1),
        "corpus": corpus,
        "decoders": decoders,
        "targets": targets,
        "songs": [r for records in songs.values() for r in records],
    }


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_report(result: dict) -> None:
    corpus, decoders = result["corpus"], result["decoders"]
    model = result["model"]
    print()
    print(
        f"model {model['name']} version {model['version']}, {result['songs_per_mood']} song(s) per mood, "
        f"{result['length']} length: parts of {result['part_steps']} steps "
        f"(composed in {result['compose_seconds']:.0f} s)"
    )
    print(
        f"corpus: {corpus['pieces_sampled']} of {corpus['pieces']} pieces (seed {corpus['seed']}) "
        f"-> {corpus['chunks']} chunks of {result['part_steps']} steps"
    )
    print()
    header = f"{'metric (per part)':<28} {'corpus mean ± std':>19}   {'sampled':>14}   {'greedy':>14}"
    print(header)
    print("-" * len(header))
    for m in METRICS:
        c = corpus["metrics"][m]
        cells = []
        for decoder in DECODERS:
            s = decoders[decoder]["metrics"][m]
            cells.append(f"{fmt(s['mean'])} {'✓' if s['within_one_std'] else '✗'}")
        print(
            f"{LABELS[m]:<28} {fmt(c['mean']) + ' ± ' + fmt(c['std']):>19}   {cells[0]:>14}   {cells[1]:>14}"
        )
    print(
        f"{'longest loop, max':<28} {corpus['longest_loop']:>19}   "
        f"{decoders['sampled']['longest_loop']:>14}   {decoders['greedy']['longest_loop']:>14}"
    )
    twice = [corpus["parts_played_twice_share"]] + [decoders[d]["parts_played_twice_share"] for d in DECODERS]
    print(
        f"{'parts = one phrase twice':<28} {twice[0]:>19.1%}   {twice[1]:>14.1%}   {twice[2]:>14.1%}"
        f"   (loop = {result['part_steps'] // 2}, the most a part can hold)"
    )
    print()
    header = (
        f"{'mood match (rule on the song)':<30} {'sampled':>10}   {'greedy':>10}   "
        f"{'sampled: minor  density  texture':<33}  classified as"
    )
    print(header)
    print("-" * len(header))
    for mood in result["moods"]:
        cells = []
        for decoder in DECODERS:
            x = decoders[decoder]["moods"][mood]
            cells.append(f"{x['matched']}/{x['songs']} {x['share']:.0%}")
        sampled = decoders["sampled"]["moods"][mood]
        f = sampled["features"]
        spread = ", ".join(f"{k} {v}" for k, v in sampled["classified_as"].items())
        print(
            f"{mood:<30} {cells[0]:>10}   {cells[1]:>10}   "
            f"{'':<9}{f['minor_share']:>5.0%}  {f['density']:>7.2f}  {f['texture']:>7.2f}   {spread}"
        )
    print(
        f"(the rule: minor & density >= {DENSE} -> tense; minor -> sad; texture >= {CHORDAL} -> epic; "
        f"density >= {DENSE} -> playful; density < {SPARSE} -> calm; else happy)"
    )
    print()
    print("targets (sampled songs):")
    for t in result["targets"]:
        print(f"  {'PASS' if t['pass'] else 'MISS'}  {t['target']}")
    passed = sum(t["pass"] for t in result["targets"])
    print(f"  {passed}/{len(result['targets'])} targets met")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with model_server(args) as target:
            info, compositions, compose_s = asyncio.run(compose_all(args, target))
    except FileNotFoundError as error:
        print(f"quality: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from bot.errors import BgmError

        if isinstance(error, BgmError):
            print(f"quality: {error}", file=sys.stderr)
            return 2
        raise
    versions = {c.model_version for cs in compositions.values() for c in cs}
    if len(versions) > 1:
        print(
            f"warning: a new model version went live during the run; songs span versions {sorted(versions)}"
        )
    steps = part_steps(args.length, info.window)
    songs = {d: [song_record(d, c) for c in cs] for d, cs in compositions.items()}

    print("measuring the corpus ...", flush=True)
    pieces, sampled, chunks = corpus_chunks(args, steps)
    if not chunks:
        print(f"quality: no corpus piece is {steps} steps long", file=sys.stderr)
        return 2
    chunk_metrics = [measure(chunk) for chunk in chunks]
    corpus = {
        "pieces": pieces,
        "pieces_sampled": sampled,
        "seed": args.corpus_seed,
        "chunks": len(chunks),
        "metrics": {m: summary(x[m] for x in chunk_metrics) for m in METRICS},
        "longest_loop": int(max(x["longest_loop"] for x in chunk_metrics)),
        "longest_loop_p99": float(np.percentile([x["longest_loop"] for x in chunk_metrics], 99)),
        "parts_played_twice_share": sum(x["longest_loop"] >= steps // 2 for x in chunk_metrics) / len(chunks),
    }

    result = evaluate(args, info, songs, corpus, steps, compose_s)
    print_report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_json_safe(result), indent=1, allow_nan=False) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def _json_safe(value):
    """``value`` with NaN as null (strict JSON) and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())
