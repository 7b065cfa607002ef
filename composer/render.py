"""Rendering, in a worker process: a composition's tokens to a MIDI file, then audio within a size.

The audio is synthesised from the arrangement itself (each distinct span once, see
``bgm.segments``), not from the MIDI file. Levelling and encoding hold the GIL for long stretches,
which stalls the event loop even from a thread; in a separate process they cannot. This module
imports only ``bgm``, so a spawned worker starts without TensorFlow, gRPC or discord.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from bgm import audio
from bgm.arrangement import Arrangement, arrange
from bgm.form import Section, song_onsets
from bgm.harmony import Key
from bgm.meter import Meter, meter_for
from bgm.midi import write_midi
from bgm.picture import draw_piano_roll
from bgm.stems import render_stems

log = logging.getLogger(__name__)


class NoAudio(Enum):
    """Why a song came without audio (the MIDI always comes)."""

    TOO_LARGE = "the audio would be over the size limit even at its smallest"
    UNAVAILABLE = "audio could not be rendered on this host (no FluidSynth or SoundFont)"


@dataclass(frozen=True)
class SongFiles:
    midi: Path
    audio: Path | None
    seconds: float
    key: str
    tempo: int
    no_audio: NoAudio | None = None  # why ``audio`` is None, when it is
    stems: tuple[Path, ...] = ()  # one audio file per part, when asked for
    picture: Path | None = None  # the piano roll (PNG), when asked for


def ready(soundfont: Path | None = None, picture: bool = False) -> bool:
    """Makes a fresh worker import this module, load the synthesiser library and read ``soundfont``
    (else the default one) before the first song; with ``picture``, import matplotlib too (a second or so)."""
    if picture:
        import matplotlib.backends.backend_agg  # noqa: F401
    try:
        audio.warm_up(audio.find_soundfont(soundfont))
    except (FileNotFoundError, RuntimeError) as error:  # the first song will say so
        log.debug("no synthesiser warmed up: %s", error)
    return True


@dataclass(frozen=True)
class Extras:
    """What a song may have besides its defaults: its lead instrument, a loop, stems, a picture."""

    lead: int | None = None  # the melody's General MIDI program
    keep_register: bool = False  # the melody stays in its octave (it opens with a user's primer)
    meter: str = "4/4"  # the MIDI file's time signature: a primer's (bgm.primer)
    loop: bool = False
    stems: bool = False
    picture: bool = False
    spans: audio.SpanStore | None = None  # spans rendered from the draft

    @property
    def grid(self) -> Meter:
        """The meter the parts count their bars in: the one ``meter`` is written on the grid of."""
        grid = meter_for(self.meter)
        if grid is None:  # the composer writes only in bgm.meter's meters
            raise ValueError(f"a song in {self.meter} has no grid")
        return grid


def _midi(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    tempo: int | None,
    key: str,
    extras: Extras = Extras(),
) -> tuple[Arrangement, SongFiles]:
    out_dir.mkdir(parents=True, exist_ok=True)
    known = Key.from_name(key) if key else None
    onsets = song_onsets(tokens, sections)
    arrangement = arrange(
        onsets,
        len(tokens),
        mood,
        sections,
        tempo,
        known,
        lead=extras.lead,
        keep_register=extras.keep_register,
        meter=extras.grid,
    )
    midi = write_midi(arrangement, out_dir / f"{stem}.mid", extras.meter)
    return arrangement, SongFiles(midi, None, arrangement.seconds, arrangement.key.name, arrangement.tempo)


def render_midi(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    *,
    tempo: int | None,
    key: str = "",
    extras: Extras = Extras(),
) -> SongFiles:
    """Arrange ``tokens`` for ``mood`` (in ``key``, e.g. "D minor", when known) and write ``<stem>.mid``."""
    return _midi(tokens, sections, mood, out_dir, stem, tempo, key, extras)[1]


def render_files(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    *,
    tempo: int | None,
    fmt: str,
    soundfont: Path | None,
    max_bytes: int,
    key: str = "",
    extras: Extras = Extras(),
) -> SongFiles:
    """The MIDI (and the picture), then audio small enough that they all fit in ``max_bytes``
    (``bgm.audio`` steps down); stems, when asked for, beside them and outside that budget."""
    arrangement, files = _midi(tokens, sections, mood, out_dir, stem, tempo, key, extras)
    if extras.picture:
        title = f"{stem} · {arrangement.key.name} · {arrangement.tempo} bpm"
        files = replace(files, picture=draw_piano_roll(arrangement, sections, out_dir / f"{stem}.png", title))
    room = max_bytes - sum(p.stat().st_size for p in (files.midi, files.picture) if p is not None)
    if room <= 0:
        return replace(files, no_audio=NoAudio.TOO_LARGE)
    path = files.midi.with_suffix(f".{fmt}")
    try:
        if extras.stems:
            path, stems = render_stems(arrangement, sections, path, fmt, soundfont, room, extras.loop)
            files = replace(files, stems=tuple(stems.values()))
        else:
            path = audio.render(
                arrangement, sections, path, fmt, soundfont, room, loop=extras.loop, store=extras.spans
            )
    except audio.AudioTooLargeError:
        return replace(files, no_audio=NoAudio.TOO_LARGE)
    except (FileNotFoundError, RuntimeError) as error:  # no fluidsynth or SoundFont: the MIDI still stands
        log.warning("audio rendering failed: %s", error)
        return replace(files, no_audio=NoAudio.UNAVAILABLE)
    return replace(files, audio=path)


def render_stream(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    *,
    tempo: int | None,
    fmt: str,
    soundfont: Path | None,
    max_bytes: int,
    key: str = "",
) -> tuple[SongFiles, Path | None]:
    """``render_files`` for a stream: the MIDI, the audio file when it fits ``max_bytes``, and the same
    audio as raw PCM (``<stem>.pcm``: 16-bit stereo at 48 kHz, what Discord's voice encoder takes),
    synthesised once for both. The PCM is None when nothing could be synthesised (``no_audio`` says why)."""
    arrangement, files = _midi(tokens, sections, mood, out_dir, stem, tempo, key)
    try:
        levelled = audio.song_audio(arrangement, sections, soundfont)
    except (FileNotFoundError, RuntimeError) as error:
        log.warning("audio rendering failed: %s", error)
        return replace(files, no_audio=NoAudio.UNAVAILABLE), None
    pcm = files.midi.with_suffix(".pcm")
    np.rint(levelled.clip(-1, 1) * 32767).astype("<i2").tofile(pcm)
    room = max_bytes - files.midi.stat().st_size
    try:
        if room <= 0:
            raise audio.AudioTooLargeError(files.midi.stat().st_size, max_bytes, fmt)
        path = audio.encode(levelled, audio.RATE, files.midi.with_suffix(f".{fmt}"), fmt, room)
    except audio.AudioTooLargeError:
        return replace(files, no_audio=NoAudio.TOO_LARGE), pcm
    return replace(files, audio=path), pcm
