"""One track's files for Discord: composed through the server, rendered off the event loop.

The MIDI always comes; the audio when it fits the channel's upload limit (see ``render_worker``).
Pass a process pool as ``executor`` (the bot does): rendering in a thread still holds the GIL.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from bgm.song import SongFiles
from bot.composer import Composer, ComposeRequest, Composition, Progress
from bot.render_worker import NO_AUDIO, TOO_LARGE, render_files

__all__ = ["NO_AUDIO", "TOO_LARGE", "Song", "produce", "stem"]


@dataclass(frozen=True)
class Song:
    composition: Composition
    files: SongFiles
    note: str | None = None  # why there is no audio, when there is none


def stem(request: ComposeRequest) -> str:
    """File names users see: mood, seed and variation, so a file says how to make it again."""
    return f"bgm-{request.mood}-{request.seed}" + (f"-v{request.variation}" if request.variation else "")


async def produce(
    composer: Composer,
    request: ComposeRequest,
    out_dir: Path,
    *,
    upload_limit: int,
    fmt: str = "ogg",
    soundfont: Path | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> Song:
    composition = await composer.compose(request, progress)
    if progress:
        progress("rendering MIDI and audio")
    seeded = composition.request
    render = functools.partial(
        render_files,
        list(composition.tokens),
        list(composition.sections),
        seeded.mood,
        out_dir,
        stem(seeded),
        tempo=seeded.tempo,
        fmt=fmt,
        soundfont=soundfont,
        upload_limit=upload_limit,
    )
    files, note = await asyncio.get_running_loop().run_in_executor(executor, render)
    return Song(composition, files, note)
