"""A song: composed through the model server, then rendered to files off the event loop.

The MIDI always comes; the audio when the two fit in ``max_bytes`` (see ``render``). Pass a
``RenderPool`` (the bot does): rendering in a thread still holds the GIL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bgm.audio import MAX_BYTES, SpanStore
from composer.composer import Composer, ComposeRequest, Composition, Progress
from composer.monitoring import COMPOSE, RENDER, timed
from composer.preview import opening_renderer, rest_renderer
from composer.render import Extras, SongFiles, ready, render_files
from composer.render_pool import RenderPool
from composer.stages import Stage

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    pipeline: bool = True,
) -> Song:
    """The song's files. ``pipeline``: the draft's spans (``composer.preview``: all but verse 2's)
    are synthesised while verse 2 is still being composed, and the song's render finds them.
    ``opening``: called with the song's opening as audio, rendered from the draft; it has returned
    before this does, so a caller posts the opening before the song. Nothing the draft does can
    fail the song: its errors are logged."""
    loop = asyncio.get_running_loop()
    # Synthesisers start on a thread while the song is composed (a render pool's workers have theirs).
    warming = loop.run_in_executor(None, ready, soundfont) if renderer is None else None

    async def run(job: Callable[[], T]) -> T:
        if renderer is not None:
            return await renderer.run(job)
        return await loop.run_in_executor(None, job)

    spans = None  # the draft's renders, for the song's: in memory when both render on this process's threads
    if pipeline and not stems:
        spans = SpanStore() if renderer is None else SpanStore(tempfile.mkdtemp(prefix="bgm-spans-"))
    ahead: list[asyncio.Task] = []  # the draft's renders, then the opening's posting
    drafted_done = asyncio.Event()  # the draft's renders are over (done or failed)

    async def render_draft(draft: Composition) -> None:
        try:
            if warming is not None:
                await warming
            if opening is not None:
                stem = file_stem(draft.request)
                files = await run(opening_renderer(draft, out_dir, stem, soundfont, max_bytes, spans))
                if files.audio is not None:
                    ahead.append(loop.create_task(opening(files), name="bgm-opening-post"))
            if spans is not None:
                await run(rest_renderer(draft, soundfont, spans, skip_opening=opening is not None))
        finally:
            drafted_done.set()

    def drafted(draft: Composition) -> None:
        if not ahead:  # once, even when the composer starts over on a new model version
            ahead.append(loop.create_task(render_draft(draft), name="bgm-draft"))

    wants_draft = opening is not None or spans is not None
    try:
        with timed(COMPOSE):
            composition = await composer.compose(request, progress, drafted if wants_draft else None)
        if warming is not None:
            await warming
        if progress:
            progress(Stage.RENDERING)
        if ahead:  # the draft's spans are being synthesised: rendering them again would only compete
            await drafted_done.wait()
        extras = {"spans": spans} if spans is not None else {}
        render = song_renderer(
            composition, out_dir, fmt, soundfont, max_bytes, stems=stems, picture=picture, **extras
        )
        with timed(RENDER):
            files = await run(render)
    finally:
        while ahead:  # never cancelled: a request cut off in discord.py locks its route
            try:
                await ahead.pop(0)
            except Exception:
                log.exception("the song's draft could not be rendered, or its opening not posted")
        if spans is not None and spans.folder is not None:
            await asyncio.to_thread(shutil.rmtree, spans.folder, True)
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
    spans: SpanStore | None = None,
) -> functools.partial[SongFiles]:
    """The job that renders ``composition``'s files (for a render worker: it pickles)."""
    seeded = composition.request
    extras = Extras(
        lead=seeded.lead,
        keep_register=seeded.primer is not None,
        meter=seeded.signature,
        loop=seeded.loop,
        stems=stems,
        picture=picture,
        spans=spans,
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
