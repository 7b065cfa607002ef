"""Rendering for a worker process: MIDI and audio files from composed tokens.

music21 and the audio encoder hold the GIL for long stretches (up to a second measured), which
stalls the event loop even from a thread; in a separate process they cannot. This module
imports only ``bgm``, so a spawned worker starts without TensorFlow, gRPC or discord.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from bgm import audio
from bgm.form import Section
from bgm.song import SongFiles, render_song

log = logging.getLogger(__name__)
ENVELOPE_BYTES = 64 * 1024  # the embed and multipart overhead that shares the upload with the files
TOO_LARGE = "The audio would be over this channel's upload limit even at its smallest, so here is the MIDI."
NO_AUDIO = "Audio could not be rendered on this host, so here is the MIDI."


def ready() -> bool:
    """A no-op that makes a fresh worker import this module (and music21) before the first song."""
    return True


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
    upload_limit: int,
) -> tuple[SongFiles, str | None]:
    """The MIDI, then audio small enough to post next to it (``bgm.audio`` steps down), or why not."""
    files = render_song(tokens, sections, mood, out_dir, stem, fmt=None, tempo=tempo)
    max_bytes = upload_limit - files.midi.stat().st_size - ENVELOPE_BYTES
    if max_bytes <= 0:
        return files, TOO_LARGE
    try:
        path = audio.render(files.midi, files.midi.with_suffix(f".{fmt}"), fmt, soundfont, max_bytes)
    except audio.AudioTooLargeError:
        return files, TOO_LARGE
    except (FileNotFoundError, RuntimeError) as error:  # no fluidsynth or SoundFont: the MIDI still stands
        log.warning("audio rendering failed: %s", error)
        return files, NO_AUDIO
    return replace(files, audio=path), None
