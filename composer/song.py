"""A song: composed through the model server, then rendered to files off the event loop.

The MIDI always comes; the audio when the two fit in ``max_bytes`` (see ``render``). Pass a
``RenderPool`` (the bot does): rendering in a thread still holds the GIL.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

from bgm.audio import MAX_BYTES
from composer.composer import Composer, ComposeRequest, Composition, Progress
from composer.monitoring import COMPOSE, RENDER, timed
from composer.render import Extras, SongFiles, ready, render_files
from composer.render_pool import RenderPool
from composer.stages import Stage


@dataclass(frozen=True)
class Song:
    composition: Composition
    files: SongFiles


def file_stem(request: ComposeRequest) -> str:
    """File names people see: mood, seed and variation, so a file says how to make it again."""
    return f"bgm-{request.mood}-{request.seed}" + (f"-v{request.variation}" if request.variation else "")


async def make_song(
    composer: Composer,
    request: ComposeRequest,
    out_dir: Path,
    *,
    max_bytes: int = MAX_BYTES,
    fmt: str = "ogg",
    soundfont: Path | None = None,
    progress: Progress | None = None,
    renderer: RenderPool | None = None,
    stems: bool = False,
    picture: bool = False,
) -> Song:
    loop = asyncio.get_running_loop()
    # Synthesisers start on a thread while the song is composed (a render pool's workers have theirs).
    warming = loop.run_in_executor(None, ready, soundfont) if renderer is None else None
    with timed(COMPOSE):
        composition = await composer.compose(request, progress)
    if warming is not None:
        await warming
    if progress:
        progress(Stage.RENDERING)
    render = song_renderer(composition, out_dir, fmt, soundfont, max_bytes, stems=stems, picture=picture)
    with timed(RENDER):
        if renderer is not None:
            files = await renderer.run(render)
        else:
            files = await loop.run_in_executor(None, render)
    return Song(composition, files)


def song_renderer(
    composition: Composition,
    out_dir: Path,
    fmt: str = "ogg",
    soundfont: Path | None = None,
    max_bytes: int = MAX_BYTES,
    *,
    stems: bool = False,
    picture: bool = False,
) -> functools.partial[SongFiles]:
    """The job that renders ``composition``'s files (for a render worker: it pickles)."""
    seeded = composition.request
    extras = Extras(
        lead=seeded.lead,
        keep_register=seeded.primer is not None,
        meter=seeded.primer.meter if seeded.primer and seeded.primer.meter else "4/4",
        loop=seeded.loop,
        stems=stems,
        picture=picture,
    )
    return functools.partial(
        render_files,
        list(composition.tokens),
        list(composition.sections),
        seeded.mood,
        out_dir,
        file_stem(seeded),
        tempo=seeded.tempo,
        fmt=fmt,
        soundfont=soundfont,
        max_bytes=max_bytes,
        key=composition.key,
        extras=extras,
    )
