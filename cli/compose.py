"""``bgm compose``: one song to disk, against a given server or an embedded one on the shipped model."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator

from bgm.settings import Settings


@contextlib.contextmanager
def _server(args: argparse.Namespace, settings: Settings) -> Iterator[str]:
    """The target to talk to: ``--server``/``BGM_SERVER``, else an embedded server for this command."""
    target = args.server or settings.server
    if target:
        yield target
        return
    from model_server import DEFAULT_BATCHING_CONFIG, EmbeddedServer

    models = args.models or settings.models_dir
    if not any((models / settings.model_name).glob("[0-9]*/saved_model.pb")):
        raise FileNotFoundError(f"no model in {models / settings.model_name}: run `bgm train` first")
    print(f"starting the embedded model server on {models} ...", flush=True)
    with EmbeddedServer(models, batching_config=DEFAULT_BATCHING_CONFIG) as server:
        yield server.address


async def _run(args: argparse.Namespace, settings: Settings, target: str):
    from bgm.audio import MAX_BYTES
    from bot.composer import Composer, ComposeRequest
    from bot.serving import ModelClient
    from bot.songs import produce

    request = ComposeRequest(
        mood=args.mood,
        length=args.length,
        seed=args.seed,
        variation=args.variation,
        tempo=args.tempo,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    client = ModelClient(
        target, settings.model_name, deadline=settings.deadline_s, retry_for=settings.retry_s
    )
    try:
        return await produce(
            Composer(client),
            request,
            args.out or settings.out_dir,
            upload_limit=MAX_BYTES,  # what Discord takes without boosts
            fmt=args.format,
            soundfont=args.soundfont or settings.soundfont,
            progress=lambda stage: print(f"  {stage} ...", flush=True),
        )
    finally:
        await client.close()


def compose(args: argparse.Namespace, settings: Settings) -> int:
    from bot.errors import BgmError

    started = time.perf_counter()
    try:
        with _server(args, settings) as target:
            song = asyncio.run(_run(args, settings, target))
    except (BgmError, FileNotFoundError, RuntimeError) as error:
        print(f"bgm compose: {error}", file=sys.stderr)
        return 2
    composition, files = song.composition, song.files
    minutes, seconds = divmod(round(files.seconds), 60)
    print(f"midi:   {files.midi}")
    if files.audio:
        print(f"audio:  {files.audio}")
    if song.note:
        print(f"note:   {song.note}")
    print(
        f"mood {args.mood}, seed {composition.request.seed}, model version {composition.model_version}, "
        f"key {files.key}, tempo {files.tempo} bpm, {minutes}:{seconds:02d} long "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )
    return 0
