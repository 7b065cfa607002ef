"""From a composed token stream to files: arrangement, MIDI and audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bgm.arrangement import arrange
from bgm.audio import MAX_BYTES, render
from bgm.form import Section, song_onsets
from bgm.midi import write_midi


@dataclass(frozen=True)
class SongFiles:
    midi: Path
    audio: Path | None
    seconds: float
    key: str
    tempo: int


def render_song(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    *,
    fmt: str | None = "ogg",
    tempo: int | None = None,
    soundfont: Path | None = None,
    max_bytes: int = MAX_BYTES,
) -> SongFiles:
    """Arrange ``tokens`` for ``mood``; write ``stem.mid`` and ``stem.<fmt>`` (no audio when fmt is None)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrangement = arrange(song_onsets(tokens, sections), len(tokens), mood, sections, tempo)
    midi = write_midi(arrangement, out_dir / f"{stem}.mid")
    audio = render(midi, out_dir / f"{stem}.{fmt}", fmt, soundfont, max_bytes) if fmt else None
    return SongFiles(midi, audio, arrangement.seconds, arrangement.key.name, arrangement.tempo)
