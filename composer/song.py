"""A song: composed through the model server, then rendered to files off the event loop.

The MIDI always comes; the audio when the two fit in ``max_bytes`` (see ``render``). Pass a
``RenderPool`` (the bot does): rendering in a thread still holds the GIL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bgm.audio import MAX_BYTES
from composer.composer import Composer, ComposeRequest, Composition, Progress
from composer.preview import opening_renderer
from composer.render import Extras, SongFiles, ready, render_files
from composer.render_pool import RenderPool
from composer.stages import Stage

log = logging.getLogger(__name__)


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
    opening: Callable[[SongFiles], Awaitable[object]] | None = None,
) -> Song:
    """``opening``: called with the song's opening as audio (``composer.preview``), rendered while
    verse 2 is still being composed; it has returned before this does, so a caller posts the
    opening before the song. A failed opening is logged and the song goes on without it."""
    loop = asyncio.get_running_loop()
    # Synthesisers start on a thread while the song is composed (a render pool's workers have theirs).
    warming = loop.run_in_executor(None, ready, soundfont) if renderer is None else None

    async def run(job: Callable[[], SongFiles]) -> SongFiles:
        if renderer is not None:
            return await renderer.run(job)
        return await loop.run_in_executor(None, job)

    previews: list[asyncio.Task] = []

    async def preview(draft: Composition) -> None:
        if warming is not None:
            await warming
        files = await run(opening_renderer(draft, out_dir, file_stem(draft.request), soundfont, max_bytes))
        if files.audio is not None and opening is not None:
            await opening(files)

    def drafted(draft: Composition) -> None:
        if not previews:  # once, even when the composer starts over on a new model version
            previews.append(loop.create_task(preview(draft), name="bgm-opening"))

    try:
        composition = await composer.compose(request, progress, drafted if opening is not None else None)
        if warming is not None:
            await warming
        if progress:
            progress(Stage.RENDERING)
        render = song_renderer(composition, out_dir, fmt, soundfont, max_bytes, stems=stems, picture=picture)
        files = await run(render)
    finally:
        for task in previews:  # never cancelled: a request cut off in discord.py locks its route
            try:
                await task
            except Exception:
                log.exception("the song's opening could not be rendered or posted")
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
