"""Quality, measured with MusPy's own metrics: the melodies of composed songs against corpus melodies.

    python bench/quality.py [--songs 8] [--seed-base 100] [--server HOST:PORT] [--models DIR]
                            [--out bench/results/quality] [--moods calm,happy,...] [--measure-only]

Starts ``bgm serve`` on ``--models`` (unless ``--server``), composes ``--songs`` medium songs per mood
through bgm's composer and the server's gRPC API (seeds from ``--seed-base``; MIDI only), then
measures the melody track of every MIDI file:
MusPy's pitch-class entropy, scale consistency, polyphony, pitch range and pitches used on 8-bar
windows, the shape of the line, the empty-beat rate and longest silence, the key by music21, novelty
against bgm's training corpus and a classifier two-sample test (issue 11, "Measuring it"). The
reference is the first part of 150 pieces of music21's corpus, measured the same way; the test is
run against all of them and, per mood, against up to 40 pieces of that mood among those training
held out, measured the same way (a calm tune is by definition sparser than the corpus at large:
bgm.moods). Prints a markdown table with a check per target, writes ``--json`` and one piano roll per mood.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.quality_features import (  # noqa: E402
    WINDOW_METRICS,
    corpus_reference,
    held_out_by_mood,
    json_safe,
    melody_track,
    novelty,
    song_metrics,
    training_melodies,
    two_sample,
    two_sample_sanity,
)

MOODS = ("calm", "happy", "sad", "epic", "tense", "playful")
MODES = {"sad": "minor", "tense": "minor", "happy": "major", "playful": "major"}
MODE_SHARE = 0.75  # music21's analysis mistakes some tunes for their relative key: most, not all
AUC_MAX = 0.75
SONG_FIGURES = WINDOW_METRICS + ("empty_beat_rate", "longest_silence_beats")
# (label, figure, target): "sd1" within corpus mean ± 1 sd, "sd2" ± 2 sd, "low1" at least mean - 1 sd,
# ("max"|"min", x) a bound, None only reported. Silences are judged on the mood's longest.
ROWS = (
    ("pitch-class entropy", "pitch_class_entropy", "sd1"),
    ("scale consistency", "scale_consistency", "low1"),
    ("empty-beat rate (whole melody)", "empty_beat_rate", ("max", 0.02)),
    ("longest melody silence (beats), max", "longest_silence_beats", ("max", 2.0)),
    ("polyphony of the lead", "polyphony", ("max", 1.2)),
    ("pitch range (semitones)", "pitch_range", "sd2"),
    ("pitches used", "n_pitches_used", ("min", 6)),
    ("bars repeating an earlier bar's rhythm", "rhythm_repeat", "sd1"),
    ("bars repeating an earlier bar's intervals", "interval_repeat", "sd1"),
    ("steps of 1-2 semitones", "step_share", "sd1"),
    ("repeated notes", "repeat_share", "sd1"),
    ("leaps over 4 semitones", "leap_share", "sd1"),
    ("eighth notes", "eighth_share", "sd1"),
    ("notes per bar", "notes_per_bar", None),
)


def summary(records: Sequence[dict], figure: str) -> dict:
    """Mean and sd of a figure over records, NaN and None left out."""
    values = [r[figure] for r in records if r.get(figure) is not None and not math.isnan(r[figure])]
    if not values:
        return {"mean": math.nan, "sd": math.nan, "max": math.nan}
    return {"mean": float(np.mean(values)), "sd": float(np.std(values)), "max": float(np.max(values))}


# --- measuring songs ---------------------------------------------------------------------------------


def mood_from_name(path: Path) -> str | None:
    """The mood in a ``bgm compose`` file name (``bgm-<mood>-<seed>.mid``)."""
    match = re.fullmatch(r"bgm-([a-z]+)-\d+(-v\d+)?", path.stem)
    return match.group(1) if match else None


def judge(target, value: float, corpus: dict) -> bool | None:
    """Whether ``value`` meets a target of ROWS (None: no target)."""
    if target is None or value is None or math.isnan(value):
        return None if target is None else False
    mean, sd = corpus["mean"], corpus["sd"]
    if target in ("sd1", "sd2"):
        return abs(value - mean) <= sd * int(target[-1])
    if target == "low1":
        return value >= mean - sd
    bound, limit = target
    return value <= limit if bound == "max" else value >= limit


def mood_report(
    songs: list[dict], corpus_pieces: list[dict], corpus_stats: dict, mood: str, same_mood: list[dict]
) -> dict:
    """Figures and checks for one mood's songs."""
    figures, checks = {}, {}
    for _, figure, target in ROWS:
        s = summary(songs, figure)
        figures[figure] = s["max"] if figure == "longest_silence_beats" else s["mean"]
        checks[figure] = judge(target, figures[figure], corpus_stats[figure])
    modes = [s["mode"] for s in songs]
    keys = sorted({s["key"] for s in songs})
    figures["modes"] = f"{modes.count('minor')} minor, {modes.count('major')} major"
    if mood in MODES:
        figures["mode_share"] = modes.count(MODES[mood]) / len(modes)
        checks["mode_share"] = figures["mode_share"] >= MODE_SHARE
    figures["keys"] = keys
    checks["keys"] = len(keys) > 1 or len(songs) == 1
    new = novelty_of(songs)
    figures.update(new)
    checks["eight_bar_found"] = None if new["eight_bar_found"] is None else not new["eight_bar_found"]
    windows = [s["windows"] for s in songs]
    corpus = [p["windows"] for p in corpus_pieces]
    figures["auc"] = two_sample(windows, corpus)
    checks["auc"] = figures["auc"] <= AUC_MAX
    same = [p["windows"] for p in same_mood]
    # What real music of the mood scores on the same test: the mood's held-out pieces against the corpus.
    figures["auc_mood_pieces"] = two_sample(same, corpus) if same and mood != "all" else math.nan
    # The mood's own pieces: a calm tune is sparse by definition, so it is judged against calm pieces too.
    own = {figure: summary(same_mood, figure) for _, figure, target in ROWS if isinstance(target, str)}
    figures["same_mood_corpus"] = own
    checks["same_mood"] = {f: judge(t, figures[f], own[f]) for _, f, t in ROWS if isinstance(t, str)}
    auc = figures["auc_same_mood"] = two_sample(windows, same) if mood != "all" else math.nan
    figures["corpus_same_mood"] = len(same) if mood != "all" else math.nan
    checks["auc_same_mood"] = None if math.isnan(auc) else auc <= AUC_MAX
    return {"songs": len(songs), "figures": figures, "checks": checks}


def novelty_of(songs: list[dict]) -> dict:
    """The novelty summary of songs already given per-song novelty (None where it was not measured)."""
    if any("novelty" not in s for s in songs):
        return {"longest_run_bars": None, "two_bar_found_share": None, "eight_bar_found": None}
    return {
        "longest_run_bars": max(s["novelty"]["longest_run_bars"] for s in songs),
        "two_bar_found_share": float(np.mean([s["novelty"]["two_bar_found_share"] for s in songs])),
        "eight_bar_found": any(s["novelty"]["eight_bar_found"] for s in songs),
    }


def measure_folder(
    folder: Path,
    mood_of_file: Callable[[Path], str | None] = mood_from_name,
    corpus_pieces: list[dict] | None = None,
    training: list | None = None,
    mood_pieces: dict[str, list[dict]] | None = None,
) -> dict:
    """Measure every MIDI file under ``folder`` whose mood ``mood_of_file`` names, against the corpus
    reference (default ``corpus_reference()``) and, for novelty, ``training`` melodies (default
    ``training_melodies()``; pass [] to skip novelty)."""
    timings: dict[str, float] = {}
    with timed(timings, "corpus_reference"):
        corpus_pieces = corpus_reference() if corpus_pieces is None else corpus_pieces
        mood_pieces = held_out_by_mood() if mood_pieces is None else mood_pieces
    corpus_stats = {figure: summary(corpus_pieces, figure) for figure in SONG_FIGURES}
    with timed(timings, "measure_songs"):
        moods_of = {path: mood_of_file(path) for path in sorted(Path(folder).rglob("*.mid"))}
        songs = [{"mood": mood, **song_metrics(path)} for path, mood in moods_of.items() if mood]
    if not songs:
        raise FileNotFoundError(f"no song MIDI files in {folder}")
    with timed(timings, "load_training"):
        training = training_melodies() if training is None else training
    with timed(timings, "novelty"):
        found = novelty([s["melody"] for s in songs], training)["songs"] if training else []
        for song, new in zip(songs, found, strict=False):
            song["novelty"] = new
    with timed(timings, "judge"):
        moods = [m for m in MOODS if any(s["mood"] == m for s in songs)]
        moods += sorted({s["mood"] for s in songs} - set(moods)) + ["all"]
        report = {
            m: mood_report(
                [s for s in songs if m in (s["mood"], "all")],
                corpus_pieces,
                corpus_stats,
                m,
                mood_pieces.get(m, []),
            )
            for m in moods
        }
        mixed = in_corpus_mix(songs, corpus_pieces)
        auc = report["all"]["figures"]["auc_corpus_mix"] = two_sample(
            [s["windows"] for s in mixed], [p["windows"] for p in corpus_pieces]
        )
        report["all"]["checks"]["auc_corpus_mix"] = None if math.isnan(auc) else auc <= AUC_MAX
        report["all"]["figures"]["corpus_mix"] = dict(Counter(s["mood"] for s in mixed))
        corpus_windows = [w for p in corpus_pieces for w in p["windows"]]
        corpus = {
            "pieces": len(corpus_pieces),
            "windows": len(corpus_windows),
            "figures": corpus_stats,
            "modes": {m: sum(p["mode"] == m for p in corpus_pieces) for m in ("major", "minor")},
            "auc_half_vs_half": two_sample_sanity([p["windows"] for p in corpus_pieces]),
        }
    return {
        "corpus": corpus,
        "moods": report,
        "songs": [{k: v for k, v in s.items() if k != "melody"} for s in songs],
        "timings": timings,
    }


def in_corpus_mix(songs: Sequence[dict], corpus_pieces: Sequence[dict]) -> list[dict]:
    """Songs of each mood in the proportions training gives the corpus pieces' moods (as many of the
    commonest mood as there are; at least one of each): "all" weighs every mood alike, while the
    corpus is mostly playful dance tunes, and a test of the songs as a whole against it would
    otherwise tell the mix apart, not the tunes."""
    share = Counter(p.get("training_mood") for p in corpus_pieces if p.get("training_mood"))
    by_mood: dict[str, list[dict]] = {}
    for song in songs:
        if share[song["mood"]]:
            by_mood.setdefault(song["mood"], []).append(song)
    if not by_mood:
        return []
    commonest = max(by_mood, key=lambda m: share[m])
    top = len(by_mood[commonest])
    return [
        s for m, kept in by_mood.items() for s in kept[: max(1, round(top * share[m] / share[commonest]))]
    ]


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the seconds a stage takes."""
    started = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - started, 1)


# --- the report --------------------------------------------------------------------------------------


def _cell(value, check: bool | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = "n/a"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, list):
        text = f"{len(value)} key" + "s" * (len(value) != 1)
    elif isinstance(value, str):
        text = value
    else:
        text = f"{value:.{digits}f}"
    return text + {True: " ✓", False: " ✗", None: ""}[check]


def _target_text(target) -> str:
    if target is None:
        return ""
    if isinstance(target, tuple):
        return f"{'≤' if target[0] == 'max' else '≥'} {target[1]:g}"
    return {"sd1": "mean ± 1 sd", "sd2": "mean ± 2 sd", "low1": "≥ mean − 1 sd"}[target]


def markdown_table(result: dict) -> str:
    """The per-mood table: each figure against the corpus, with a check where the issue sets a target."""
    moods = list(result["moods"])
    corpus = result["corpus"]["figures"]
    lines = [
        "| melody | target | corpus mean ± sd | " + " | ".join(moods) + " |",
        "|---|---|---|" + "---|" * len(moods),
    ]

    def row(label: str, target: str, reference: str, key: str, digits: int = 2) -> None:
        cells = [
            _cell(result["moods"][m]["figures"].get(key), result["moods"][m]["checks"].get(key), digits)
            for m in moods
        ]
        lines.append(f"| {label} | {target} | {reference} | " + " | ".join(cells) + " |")

    for label, figure, target in ROWS:
        c = corpus[figure]
        digits = 3 if figure in ("scale_consistency", "empty_beat_rate") else 2
        row(label, _target_text(target), f"{c['mean']:.{digits}f} ± {c['sd']:.{digits}f}", figure, digits)
    modes = result["corpus"]["modes"]
    row("modes by music21's key analysis", "", f"{modes['minor']} minor, {modes['major']} major", "modes")
    row(
        "share in the mood's mode (sad, tense: minor; happy, playful: major)",
        f"≥ {MODE_SHARE:g}",
        "",
        "mode_share",
    )
    row("keys", "> 1", "", "keys")
    row("longest run found in the training corpus (bars)", "", "", "longest_run_bars", 1)
    row("2-bar stretches found in the training corpus", "", "", "two_bar_found_share")
    row("an 8-bar stretch found verbatim", "no", "", "eight_bar_found")
    row(
        "two-sample ROC AUC (0.5: indistinguishable)",
        f"≤ {AUC_MAX}",
        f"{result['corpus']['auc_half_vs_half']:.2f} half vs half",
        "auc",
    )
    mix = result["moods"].get("all", {}).get("figures", {}).get("corpus_mix") or {}
    row(
        "... all moods in the corpus's proportions ("
        + ", ".join(f"{m} {n}" for m, n in sorted(mix.items(), key=lambda item: -item[1]))
        + " songs)",
        f"≤ {AUC_MAX}",
        "",
        "auc_corpus_mix",
    )
    row("... the mood's held-out corpus pieces themselves (real music)", "", "", "auc_mood_pieces")
    row(
        "... against held-out corpus pieces of the mood",
        f"≤ {AUC_MAX}",
        "",
        "auc_same_mood",
    )
    row("held-out corpus pieces of the mood", "", "", "corpus_same_mood", 0)
    return "\n".join(lines)


def same_mood_table(result: dict) -> str:
    """The figures with a corpus-relative target, judged against the held-out pieces of each mood
    (the song's figure, then that mood's corpus mean ± sd)."""
    moods = [m for m in result["moods"] if m != "all"]
    lines = ["| melody | target | " + " | ".join(moods) + " |", "|---|---|" + "---|" * len(moods)]
    for label, figure, target in ROWS:
        if not isinstance(target, str):
            continue
        cells = []
        for m in moods:
            report = result["moods"][m]
            own = report["figures"]["same_mood_corpus"][figure]
            check = report["checks"]["same_mood"][figure]
            digits = 3 if figure == "scale_consistency" else 2
            cell = (
                f"{report['figures'][figure]:.{digits}f} ({own['mean']:.{digits}f} ± {own['sd']:.{digits}f})"
            )
            cells.append(cell + {True: " ✓", False: " ✗", None: ""}[check])
        lines.append(f"| {label} | {_target_text(target)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- piano rolls -------------------------------------------------------------------------------------


def piano_roll(
    midi_path: Path, png_path: Path, title: str, sections: Sequence[tuple[str, float]] | None = None
) -> Path:
    """A PNG piano roll: a colour per track, the melody on top, drums as ticks below, x in bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import muspy

    music = muspy.read_midi(str(midi_path))
    bar = 4 * music.resolution
    melody = melody_track(music)
    pitched = [n.pitch for t in music.tracks if not t.is_drum for n in t.notes] or [60]
    drum_row = min(pitched) - 4
    fig, ax = plt.subplots(figsize=(14, 4.5))
    colours = iter(["#4c72b0", "#55a868", "#8172b2", "#ccb974", "#64b5cd"])
    for track in sorted(music.tracks, key=lambda t: t is melody):  # the melody drawn last, on top
        if not track.notes:
            continue
        starts = np.array([n.time for n in track.notes]) / bar
        widths = np.array([n.duration for n in track.notes]) / bar
        if track.is_drum:
            ax.scatter(starts, [drum_row] * len(starts), marker="|", s=25, lw=0.5, c="0.4", label="drums")
            continue
        is_melody = track is melody
        ax.barh(
            [n.pitch for n in track.notes],
            widths,
            left=starts,
            height=0.9 if is_melody else 0.7,
            color="#c44e52" if is_melody else next(colours),
            alpha=1.0 if is_melody else 0.45,
            label=f"melody ({track.name})" if is_melody else track.name or f"program {track.program}",
            zorder=3 if is_melody else 2,
        )
    for name, start_beat in sections or ():
        ax.axvline(start_beat / 4, color="0.3", linewidth=0.8, linestyle="--", zorder=1)
        ax.text(start_beat / 4 + 0.2, max(pitched) + 2, name, fontsize=8, va="bottom")
    ax.set(
        xlabel="bar",
        ylabel="MIDI pitch",
        title=title,
        xlim=(0, music.get_end_time() / bar),
        ylim=(drum_row - 2, max(pitched) + 6),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def form_sections(midi_path: Path) -> list[tuple[str, float]]:
    """Sections of a ``bgm compose`` song: the form's parts, laid out in equal lengths."""
    import muspy

    from bgm.form import LAYOUT

    music = muspy.read_midi(str(midi_path))
    beats = music.get_end_time() / music.resolution
    return [(name, k * beats / len(LAYOUT)) for k, name in enumerate(LAYOUT)]


# --- composing ---------------------------------------------------------------------------------------


def bgm_command() -> str:
    """The ``bgm`` entry point next to this Python (the venv's), else the one on PATH."""
    here = Path(sys.executable).parent / "bgm"
    return str(here) if here.exists() else "bgm"


@contextlib.contextmanager
def model_server(models: Path, log_path: Path) -> Iterator[str]:
    """``bgm serve --models`` on a free port, as a child process; yields its target once it serves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:  # the child keeps its own handle
        cmd = [bgm_command(), "serve", "--models", str(models), "--port", str(port)]
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        print(f"starting bgm serve on {models} (port {port}) ...", flush=True)
        wait_serving(f"127.0.0.1:{port}", server)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def wait_serving(target: str, server: subprocess.Popen, timeout: float = 600.0) -> None:
    """Block until the server's gRPC health check says SERVING (a model is loaded)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    request = health_pb2.HealthCheckRequest(service="tensorflow.serving.PredictionService")
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"bgm serve exited with status {server.returncode}")
            with contextlib.suppress(grpc.RpcError):
                if stub.Check(request, timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(1)
    raise TimeoutError(f"no model served on {target} after {timeout:.0f} s")


def compose_songs(target: str, moods: Sequence[str], seeds: Sequence[int], out: Path, jobs: int) -> None:
    """One song per mood and seed through bgm's composer and ``target``'s gRPC API, ``jobs`` at a
    time, written as MIDI (what is measured; audio would only cost time) into ``out/<mood>``."""
    import asyncio

    from composer.client import ModelClient
    from composer.composer import Composer, ComposeRequest
    from composer.render import render_midi
    from composer.song import file_stem

    async def run() -> None:
        client = ModelClient(target, deadline=60.0)
        composer, slots = Composer(client), asyncio.Semaphore(jobs)

        async def one(mood: str, seed: int) -> None:
            async with slots:
                song = await composer.compose(ComposeRequest(mood, "medium", seed=seed))
            seeded = song.request
            files = render_midi(
                list(song.tokens), list(song.sections), mood, out / mood, file_stem(seeded),
                tempo=None, key=song.key,
            )  # fmt: skip
            print(f"  {mood} seed {seed}: {files.key}, model version {song.model_version}", flush=True)

        try:
            await asyncio.gather(*(one(m, s) for m in moods for s in seeds))
        finally:
            await client.close()

    asyncio.run(run())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=8, help="songs per mood")
    parser.add_argument("--seed-base", type=int, default=100, help="seeds seed-base .. seed-base+songs-1")
    parser.add_argument("--server", help="HOST:PORT of a running model server (else `bgm serve --models`)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder to serve")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality")
    parser.add_argument("--moods", default=",".join(MOODS), help="comma-separated moods")
    parser.add_argument("--jobs", type=int, default=2, help="songs composed at once")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    parser.add_argument("--pictures", type=Path, default=ROOT / "docs" / "pictures")
    parser.add_argument("--measure-only", action="store_true", help="measure the songs already in --out")
    parser.add_argument(
        "--skip-novelty", action="store_true", help="no search of the training corpus (quicker, for tuning)"
    )
    args = parser.parse_args(argv)
    args.moods = [m.strip() for m in args.moods.split(",") if m.strip()]
    if args.songs < 1:
        parser.error("--songs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds = range(args.seed_base, args.seed_base + args.songs)
    started = time.perf_counter()
    if not args.measure_only:
        with contextlib.ExitStack() as stack:
            target = args.server or stack.enter_context(model_server(args.models, args.out / "serve.log"))
            print(f"composing {len(args.moods) * args.songs} songs ...", flush=True)
            compose_songs(target, args.moods, seeds, args.out, args.jobs)
    compose_s = round(time.perf_counter() - started, 1)

    print("measuring ...", flush=True)
    wanted = {(m, s) for m in args.moods for s in seeds}

    def mood_of_file(path: Path) -> str | None:
        match = re.fullmatch(r"bgm-([a-z]+)-(\d+)", path.stem)
        return match.group(1) if match and (match.group(1), int(match.group(2))) in wanted else None

    result = measure_folder(args.out, mood_of_file, training=[] if args.skip_novelty else None)
    result["timings"]["compose"] = compose_s
    result["run"] = {"songs_per_mood": args.songs, "seeds": list(seeds), "server": args.server or "bgm serve"}

    with timed(result["timings"], "piano_rolls"):
        for mood in args.moods:
            midi = args.out / mood / f"bgm-{mood}-{seeds[0]}.mid"
            if midi.exists():
                title = f"{mood}, seed {seeds[0]}"
                piano_roll(midi, args.pictures / f"{mood}.png", title, form_sections(midi))

    print()
    print(markdown_table(result))
    print()
    print("Against the held-out corpus pieces of each mood (song figure, then their mean ± sd):")
    print()
    print(same_mood_table(result))
    print()
    print("seconds per stage: " + ", ".join(f"{k} {v}" for k, v in result["timings"].items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
