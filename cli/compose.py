"""``bgm compose``: one song to disk, against a given server or an embedded one on the shipped model.

Every option is checked before the model server starts: a value out of range, a primer that is not
music, a SoundFont that is not there is one sentence on stderr and exit status 2, with nothing written.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from bgm.settings import Settings
from cli.quiet import silenced_stderr
from cli.serving import model_server


def _request(args: argparse.Namespace):
    """The request the options make; ``BgmError`` (one sentence) for any option out of range."""
    from bgm import instruments
    from bgm.errors import BgmError
    from bgm.primer import read_primer
    from composer.composer import ComposeRequest

    primer = None
    if args.primer is not None:
        try:
            data = args.primer.read_bytes()
        except OSError as error:
            raise BgmError(f"The primer {args.primer} cannot be read ({error.strerror or error}).") from None
        primer = read_primer(args.primer.name, data)
    return ComposeRequest(
        mood=args.mood,
        length=args.length,
        seed=args.seed,
        variation=args.variation,
        tempo=args.tempo,
        temperature=args.temperature,
        top_p=args.top_p,
        key=args.key,
        lead=None if args.lead is None else instruments.program(args.lead),
        loop=args.loop,
        primer=primer,
        meter=args.meter,
    )


def _check_paths(out: Path, soundfont: Path | None) -> None:
    """The output folder can be one, and a SoundFont the user named exists (else only MIDI would come)."""
    from bgm.audio import find_soundfont
    from bgm.errors import BgmError

    if out.exists() and not out.is_dir():
        raise BgmError(f"The output folder {out} is a file.")
    if soundfont is not None:
        try:
            find_soundfont(soundfont)
        except FileNotFoundError:
            raise BgmError(f"The SoundFont {soundfont} does not exist, so no audio could be made.") from None


def _label(args: argparse.Namespace, settings: Settings) -> str:
    """The version label this command composes with ("": the latest version)."""
    return settings.version_label if args.label is None else args.label


async def _run(args: argparse.Namespace, settings: Settings, target: str, request):
    from composer.client import ModelClient
    from composer.composer import Composer
    from composer.song import make_song

    client = ModelClient(
        target,
        settings.model_name,
        deadline=settings.deadline_s,
        retry_for=settings.retry_s,
        version_label=_label(args, settings),
    )
    try:
        return await make_song(
            Composer(client),
            request,
            args.out or settings.out_dir,
            fmt=args.format,
            soundfont=args.soundfont or settings.soundfont,
            progress=lambda stage: print(f"  {stage.value} ...", flush=True),
            stems=args.stems,
            picture=args.picture,
        )
    finally:
        await client.close()


def compose(args: argparse.Namespace, settings: Settings) -> int:
    from bgm import instruments
    from bgm.errors import BgmError

    started = time.perf_counter()
    target = args.server or settings.server
    models = args.models or settings.models_dir
    try:
        request = _request(args)
        _check_paths(args.out or settings.out_dir, args.soundfont or settings.soundfont)
    except BgmError as error:
        print(f"bgm compose: {error}", file=sys.stderr)
        return 2
    if not target and not any((models / settings.model_name).glob("[0-9]*/saved_model.pb")):
        # The default folder is relative to where the command runs: say where it looked.
        print(
            f"bgm compose: no model in {(models / settings.model_name).resolve()}: pass --models (or set "
            "BGM_MODELS_DIR) to a models folder, or run `bgm train`.",
            file=sys.stderr,
        )
        return 2
    try:
        # Everything but this command's own lines stays out of the terminal (see cli.quiet).
        with silenced_stderr(not args.verbose):
            if not target:
                print(f"starting the embedded model server on {models} ...", flush=True)
            with model_server(
                target, models, settings.model_name, quiet=not args.verbose, only_label=_label(args, settings)
            ) as address:
                song = asyncio.run(_run(args, settings, address, request))
    except (BgmError, OSError, RuntimeError) as error:
        print(f"bgm compose: {error}", file=sys.stderr)
        return 2
    composition, files = song.composition, song.files
    minutes, seconds = divmod(round(files.seconds), 60)
    print(f"midi:   {files.midi}")
    if files.audio:
        print(f"audio:  {files.audio}")
    for stem in files.stems:
        print(f"stem:   {stem}")
    if files.picture:
        print(f"picture: {files.picture}")
    seeded = composition.request
    extras = []
    if seeded.lead is not None:
        extras.append(f"lead {instruments.name(seeded.lead)}")
    if seeded.loop:
        extras.append(f"a loop of {composition.bars} bars")
    if seeded.primer is not None:
        extras.append(f"opening with {composition.primer_bars} bars of {seeded.primer.source}")
    if seeded.grid.name != "4/4":
        extras.append(f"in {seeded.signature}")
    print(
        f"mood {args.mood}, seed {seeded.seed}, model version {composition.model_version}, "
        f"key {files.key}, tempo {files.tempo} bpm, {minutes}:{seconds:02d} long"
        + "".join(f", {extra}" for extra in extras)
        + f" (made in {time.perf_counter() - started:.1f} s)"
    )
    if files.no_audio:  # audio was asked for: the command did not do all it was asked
        print(f"bgm compose: no audio: {files.no_audio.value}", file=sys.stderr)
        return 1
    return 0
