"""A radio song: composed through the model server, rendered in a render worker to files (for the
now-playing message) and to PCM (for the voice channel), and where its phrases start."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bgm.form import Section
from bgm.meter import FOUR_FOUR, Meter
from bgm.tokens import STEP_QUARTERS
from bot.radio.errors import RadioError
from bot.radio.stream import RATE
from composer.composer import Composer, ComposeRequest, Composition
from composer.monitoring import COMPOSE, RENDER, timed
from composer.render import SongFiles, render_stream
from composer.render_pool import RenderPool
from composer.song import file_stem

MAX_PHRASE_S = 4.0  # a mood change waits for the next phrase: at most this long once the song is ready
PHRASE_BARS = (4, 2, 1)  # the longest of these that fits in MAX_PHRASE_S (a bar when none does)


@dataclass(frozen=True)
class RadioSong:
    composition: Composition
    files: SongFiles
    pcm: np.ndarray  # int16 stereo at 48 kHz
    phrases: tuple[int, ...]  # frames from the start where a phrase begins
    compose_s: float = 0.0  # how long composing took (the model server)
    render_s: float = 0.0  # ... and rendering and reading the PCM back (a render worker, a thread)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / RATE


def phrase_starts(
    tempo: int,
    sections: tuple[Section, ...] | list[Section],
    rate: int = RATE,
    meter: Meter = FOUR_FOUR,
) -> tuple[int, ...]:
    """Frames where phrases begin: every 4, 2 or 1 bars of ``meter`` (the longest that lasts
    ``MAX_PHRASE_S`` or less at ``tempo``), counted from each section's start, so a change never
    lands mid-bar."""
    frames_per_step = rate * STEP_QUARTERS * 60.0 / tempo
    bar_s = meter.bar * STEP_QUARTERS * 60.0 / tempo
    bars = next((n for n in PHRASE_BARS if n * bar_s <= MAX_PHRASE_S), 1)
    steps = sorted({s.start + k for s in sections for k in range(0, s.steps, bars * meter.bar)} - {0})
    return tuple(round(step * frames_per_step) for step in steps)


def load_pcm(path: Path) -> np.ndarray:
    """The worker's PCM file, read into memory and removed (the song now lives in the timeline)."""
    pcm = np.fromfile(path, dtype="<i2").reshape(-1, 2)
    path.unlink(missing_ok=True)
    return pcm


async def make_radio_song(
    composer: Composer,
    renderer: RenderPool,
    request: ComposeRequest,
    out_dir: Path,
    *,
    max_bytes: int,
    fmt: str = "ogg",
    soundfont: Path | None = None,
) -> RadioSong:
    """Compose ``request`` and render it in a worker; the PCM is read on a thread, never on the loop."""
    began = time.perf_counter()
    with timed(COMPOSE):  # the same histograms as /bgm compose's songs
        composition = await composer.compose(request)
    composed = time.perf_counter()
    seeded = composition.request
    render = functools.partial(
        render_stream,
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
    )
    with timed(RENDER):
        files, pcm_path = await renderer.run(render)
    if pcm_path is None:
        why = files.no_audio.value if files.no_audio else "no audio was rendered"
        raise RadioError(f"The radio cannot play: {why}.")
    pcm = await asyncio.to_thread(load_pcm, pcm_path)
    phrases = phrase_starts(files.tempo, composition.sections)  # radio songs have no primer: 4/4
    return RadioSong(composition, files, pcm, phrases, composed - began, time.perf_counter() - composed)
