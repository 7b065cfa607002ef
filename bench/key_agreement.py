"""Does music21 hear the key asked for? ``--key`` over all 24 keys and a few seeds (issue 15).

    python bench/key_agreement.py [--seed-base 300] [--per-key 2] [--length short] [--models DIR]
                                  [--server HOST:PORT] [--cache FILE]

Composes ``--per-key`` songs per key, each with a seed of its own (seed-base, seed-base + 1, ...),
through bgm's composer and the model server's gRPC API (an embedded server on ``--models`` unless
``--server``), the mood turning with the seed so that each mode meets every mood; writes each song's
MIDI as ``bgm compose`` does and asks music21 for the key of the whole file
(``converter.parse(midi).analyze('key')``). Prints each miss and the agreement rate on tonic and
mode. ``--cache`` keeps the compositions, so the arrangement can be tuned and measured again without
composing (``--cache`` with the same seeds reads them back).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bgm.harmony import PITCH_NAMES, Key  # noqa: E402

MOODS = ("calm", "happy", "sad", "epic", "tense", "playful")
KEYS = tuple(Key(tonic, mode) for tonic in range(12) for mode in ("major", "minor"))


def requests(seed_base: int, per_key: int, length: str) -> list:
    """``per_key`` requests per key, every one with its own seed; the mood turns with the seed, so
    both modes meet all six moods."""
    from composer.composer import ComposeRequest

    seeds = iter(range(seed_base, seed_base + per_key * len(KEYS)))
    return [
        ComposeRequest(MOODS[(seed + round_) % len(MOODS)], length, seed=seed, key=key.name)
        for round_ in range(per_key)
        for key, seed in zip(KEYS, seeds, strict=False)
    ]


def compose_all(target: str, wanted: list) -> list:
    from composer.client import ModelClient
    from composer.composer import Composer

    async def run() -> list:
        client = ModelClient(target, deadline=60.0)
        try:
            composer = Composer(client)
            return [await composer.compose(request) for request in wanted]
        finally:
            await client.close()

    return asyncio.run(run())


def heard_key(composition, out: Path) -> Key:
    """music21's key of the MIDI file ``bgm compose`` would write for ``composition``."""
    from music21 import converter

    from composer.render import render_midi

    seeded = composition.request
    files = render_midi(
        list(composition.tokens), list(composition.sections), seeded.mood, out, "song",
        tempo=seeded.tempo, key=composition.key,
    )  # fmt: skip
    found = converter.parse(str(files.midi)).analyze("key")
    return Key(found.tonic.pitchClass, found.mode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-base", type=int, default=300, help="the first song's seed")
    parser.add_argument("--per-key", type=int, default=2, help="songs per key")
    parser.add_argument("--length", choices=("short", "medium", "long"), default="short")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--server", help="HOST:PORT of a running model server (else an embedded one)")
    parser.add_argument("--cache", type=Path, help="compositions kept here (JSON), read back when there")
    args = parser.parse_args(argv)
    from composer.composer import Composition

    wanted = requests(args.seed_base, args.per_key, args.length)
    songs = None
    if args.cache and args.cache.is_file():
        cached = [Composition.from_dict(d) for d in json.loads(args.cache.read_text())]
        if [c.request.to_dict() for c in cached] == [r.to_dict() for r in wanted]:
            songs = cached
    if songs is None:
        with contextlib.ExitStack() as stack:
            if args.server:
                target = args.server
            else:
                from model_server import local_server

                target = stack.enter_context(local_server(args.models))
            songs = compose_all(target, wanted)
        if args.cache:
            args.cache.write_text(json.dumps([s.to_dict() for s in songs]))

    agreed, relative, other = 0, 0, []
    with tempfile.TemporaryDirectory() as folder:
        for song in songs:
            asked, heard = Key.from_name(song.request.key), heard_key(song, Path(folder))
            if heard == asked:
                agreed += 1
                continue
            shift = (heard.tonic - asked.tonic) % 12
            is_relative = heard.mode != asked.mode and shift == (9 if asked.mode == "major" else 3)
            relative += is_relative
            heard_name = f"{PITCH_NAMES[heard.tonic]} {heard.mode}" + (" (relative)" if is_relative else "")
            song_name = f"{song.request.mood} seed {song.request.seed}"
            other.append(f"{song_name}: asked {asked.name}, heard {heard_name}")
    for line in other:
        print(line)
    seeds = f"{args.seed_base}-{args.seed_base + len(songs) - 1}"
    print(
        f"music21 agrees on tonic and mode for {agreed}/{len(songs)} songs "
        f"({100 * agreed / len(songs):.0f}%; {args.length}, seeds {seeds}); "
        f"{relative} of the misses are the relative key"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
