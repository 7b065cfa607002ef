"""One song from request to files: compose through the server, then render off the event loop."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from bgm.song import SongFiles, render_song
from bot.composer import Composer, ComposeRequest, Composition, Progress


async def make_song(
    composer: Composer,
    request: ComposeRequest,
    out_dir: Path,
    *,
    fmt: str | None = "ogg",
    soundfont: Path | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[Composition, SongFiles]:
    composition = await composer.compose(request, progress)
    if progress:
        progress("rendering MIDI and audio")
    seed = composition.request.seed
    stem = f"bgm-{request.mood}-{seed}" + (f"-v{request.variation}" if request.variation else "")
    render = functools.partial(
        render_song,
        list(composition.tokens),
        list(composition.sections),
        request.mood,
        out_dir,
        stem,
        fmt=fmt,
        tempo=request.tempo,
        soundfont=soundfont,
        **({"max_bytes": max_bytes} if max_bytes else {}),
    )
    # FluidSynth and music21 take seconds of CPU: keep them off the event loop.
    files = await asyncio.get_running_loop().run_in_executor(None, render)
    return composition, files
