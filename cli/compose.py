"""``bgm compose``: one song to disk, against a given server or an embedded one on the shipped model."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bgm.settings import Settings
from cli.quiet import silenced_stderr
from cli.serving import model_server


async def _run(args: argparse.Namespace, settings: Settings, target: str):
    from composer.client import ModelClient
    from composer.composer import Composer, ComposeRequest
    from composer.song import make_song

    request = ComposeRequest(
        mood=args.mood,
        length=args.length,
        seed=args.seed,
        variation=args.variation,
        tempo=args.tempo,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    label = settings.version_label if args.label is None else args.label
    client = ModelClient(
        target,
        settings.model_name,
        deadline=settings.deadline_s,
        retry_for=settings.retry_s,
        version_label=label,
    )
    try:
        return await make_song(
            Composer(client),
            request,
            args.out or settings.out_dir,
            fmt=args.format,
            soundfont=args.soundfont or settings.soundfont,
            progress=lambda stage: print(f"  {stage.value} ...", flush=True),
        )
    finally:
        await client.close()


def compose(args: argparse.Namespace, settings: Settings) -> int:
    from bgm.errors import BgmError

    started = time.perf_counter()
    target = args.server or settings.server
    models = args.models or settings.models_dir
    if not target and not any((models / settings.model_name).glob("[0-9]*/saved_model.pb")):
        print(
            f"bgm compose: no model in {models / settings.model_name}: run `bgm train` first", file=sys.stderr
        )
        return 2
    try:
        # Everything but this command's own lines stays out of the terminal (see cli.quiet).
        with silenced_stderr(not args.verbose):
            if not target:
                print(f"starting the embedded model server on {models} ...", flush=True)
            with model_server(target, models, settings.model_name, quiet=not args.verbose) as address:
                song = asyncio.run(_run(args, settings, address))
    except (BgmError, FileNotFoundError, RuntimeError) as error:
        print(f"bgm compose: {error}", file=sys.stderr)
        return 2
    composition, files = song.composition, song.files
    minutes, seconds = divmod(round(files.seconds), 60)
    print(f"midi:   {files.midi}")
    if files.audio:
        print(f"audio:  {files.audio}")
    if files.no_audio:
        print(f"note:   no audio: {files.no_audio.value}")
    print(
        f"mood {args.mood}, seed {composition.request.seed}, model version {composition.model_version}, "
        f"key {files.key}, tempo {files.tempo} bpm, {minutes}:{seconds:02d} long "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )
    return 0
