"""Does a song in 3/4 or 6/8 keep its meter? Held-out waltzes and jigs as primers (issue 15).

    python bench/meters.py [--models DIR] [--compare DIR] [--songs 12] [--seed-base 700]
                           [--length medium] [--json FILE]

The pieces in 3/4 and 6/8 that training held out (the validation split of the default corpus, as
``bgm train`` splits it) serve twice. Perplexity: the live version of ``--models`` on their windows,
read in their own meter, against the same network reading them as 4/4 (16-step positions, lookbacks
one and two 4/4 bars back: what a network that knows 4/4 only sees of a waltz). Songs: ``--songs``
per meter, each opening with the first two bars of a held-out piece (a different piece and mood per
seed), composed through bgm's composer and an embedded model server; the melody outside verse 1
(no primer there) is measured on the meter's 12-step bar: the share of onsets on each step (the
total-variation distance of that profile to the held-out pieces'), the share of onsets on the
meter's beats, and groove consistency (bgm.metrics). ``--compare DIR`` composes the same songs with
another models folder, e.g. the grown network before its new positions were trained.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bgm import metrics  # noqa: E402
from bgm.meter import FOUR_FOUR, Meter, by_name  # noqa: E402
from bgm.tokens import decode  # noqa: E402

MOODS = ("calm", "happy", "sad", "epic", "tense", "playful")
PRIMER_BARS = 2
MAX_WINDOWS = 4000


def held_out(meter: Meter) -> list:
    """The default corpus's validation pieces in ``meter``, as ``bgm train`` splits them."""
    from bgm.training_defaults import DEFAULTS
    from training import corpus, dataset

    sources, _ = corpus.collect(corpus.default_corpus_files())
    pieces, _ = corpus.load(sources, DEFAULTS.cache_dir, None, False)
    mine = dataset.in_meters(dataset.label(pieces), (meter.name,))
    return dataset.split(mine, DEFAULTS.validation, DEFAULTS.seed)[1]


def perplexities(models: Path, pieces: dict[str, list]) -> dict[str, dict[str, float]]:
    """Per meter: the live version's perplexity reading the pieces in their meter, and as 4/4."""
    from training import export, measure, publish
    from training.model import compile_model

    model, config, vocab = export.load_keras(publish.latest(models / "bgm"))
    compile_model(model)
    out = {}
    for name, items in pieces.items():
        as_four_four = [replace(item, meter=FOUR_FOUR) for item in items]
        out[name] = {
            "own meter": measure.perplexity(model, config, vocab, items, MAX_WINDOWS, 0)
            if name in config.meters
            else math.nan,
            "as 4/4": measure.perplexity(model, config, vocab, as_four_four, MAX_WINDOWS, 0),
        }
    return out


def requests(pieces: list, meter: Meter, songs: int, seed_base: int, length: str) -> list:
    """One request per seed: a held-out piece's first bars (whole bars from its first bar line) as
    the primer, in the key it is in."""
    from bgm.harmony import estimate_key
    from bgm.primer import Primer
    from composer.composer import ComposeRequest

    rng = np.random.default_rng(seed_base)
    long_enough = [p for p in pieces if len(p.piece.tokens) > 8 * meter.bar]
    out = []
    for k, i in enumerate(rng.choice(len(long_enough), size=songs, replace=False)):
        piece = long_enough[i].piece
        start = -piece.phase % meter.bar  # its first bar line
        tokens = tuple(piece.tokens[start : start + PRIMER_BARS * meter.bar])
        key = estimate_key(decode(list(tokens))).name
        primer = Primer(tokens, key, meter.name, piece.source)
        out.append(ComposeRequest(MOODS[k % len(MOODS)], length, seed=seed_base + k, primer=primer))
    return out


def compose_all(models: Path, wanted: list) -> list:
    """``wanted`` composed against an embedded server on ``models``."""
    from bench.key_agreement import compose_all as compose_with
    from model_server import local_server

    with local_server(models) as target:
        return compose_with(target, wanted)


def profile(parts: list[list[str]], meter: Meter) -> np.ndarray:
    """Share of the onsets that fall on each step of the bar."""
    counts = np.zeros(meter.bar)
    for tokens in parts:
        for onset in decode(tokens):
            counts[onset.step % meter.bar] += 1
    return counts / max(counts.sum(), 1)


def figures(parts: list[list[str]], meter: Meter, reference: np.ndarray) -> dict[str, float]:
    shares = profile(parts, meter)
    beats = list(range(0, meter.bar, meter.beat))
    grooves = [metrics.groove_consistency(p, meter.bar) for p in parts]
    return {
        "profile distance": float(0.5 * np.abs(shares - reference).sum()),
        "on the beats": float(shares[beats].sum()),
        "on the downbeat": float(shares[0]),
        "groove consistency": float(np.nanmean(grooves)),
    }


def song_parts(song) -> list[list[str]]:
    """The song's sections but verse 1 (which opens with the primer)."""
    return [list(song.tokens[s.start : s.start + s.steps]) for s in song.sections if s.name != "verse1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--compare", type=Path, help="another models folder to compose the same songs with")
    parser.add_argument("--songs", type=int, default=12, help="songs per meter")
    parser.add_argument("--seed-base", type=int, default=700)
    parser.add_argument("--length", choices=("short", "medium", "long"), default="medium")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    meters = [by_name("3/4"), by_name("6/8")]
    pieces = {m.name: held_out(m) for m in meters}
    result: dict = {"perplexity": perplexities(args.models, pieces), "songs": {}}
    folders = {"songs": args.models} | ({"compare": args.compare} if args.compare else {})
    for meter in meters:
        items = pieces[meter.name]
        chunks = [list(item.piece.tokens[-item.piece.phase % meter.bar :]) for item in items]
        half = len(chunks) // 2
        reference = profile(chunks, meter)
        row = {
            "held-out pieces": figures(chunks, meter, reference),
            "pieces, one half against the other": figures(
                chunks[:half], meter, profile(chunks[half:], meter)
            ),
        }
        wanted = requests(items, meter, args.songs, args.seed_base, args.length)
        for label, folder in folders.items():
            songs = compose_all(folder, wanted)
            row[f"{label} ({folder})"] = figures([p for s in songs for p in song_parts(s)], meter, reference)
        result["songs"][meter.name] = {"pieces": len(items), **row}

    print("| meter | perplexity in its meter | read as 4/4 |\n|---|---|---|")
    for name, p in result["perplexity"].items():
        print(f"| {name} ({len(pieces[name])} held-out pieces) | {p['own meter']:.3f} | {p['as 4/4']:.3f} |")
    for name, rows in result["songs"].items():
        print(f"\n{name}, {args.songs} songs from seed {args.seed_base} ({args.length}):")
        print("| melodies | profile distance | on the beats | on the downbeat | groove consistency |")
        print("|---|---|---|---|---|")
        for label, f in rows.items():
            if isinstance(f, dict):
                cells = " | ".join(
                    f"{f[k]:.3f}" for k in ("profile distance", "on the beats", "on the downbeat")
                )
                print(f"| {label} | {cells} | {f['groove consistency']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
