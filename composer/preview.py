"""The song's opening (verse 1 and the first chorus) as audio, rendered from a draft while verse 2 is
still being composed: something to play in Discord a few seconds sooner than the whole song.

The composer writes verse 1, chorus and bridge together and verse 2 after them (it continues verse
1), so once the first three are written the opening is known note for note. The draft is arranged
as a song of the parts it has (verse 2 left out, see ``Composer.compose``) and cut after the first
chorus. The arrangement moves each section by octaves towards the song's middle pitch, which
verse 2 shifts a little: the opening is the whole song's opening except when that move changes
(the bench counts how often). Like ``composer.render``, this imports only ``bgm``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

from bgm import audio
from bgm.arrangement import Arrangement, Track, arrange
from bgm.form import Section, song_onsets
from bgm.harmony import Key
from composer.render import Extras, NoAudio, SongFiles

log = logging.getLogger(__name__)
OPENING_SECTIONS = 2  # verse 1 and the first chorus: about a third of the song


def opening_of(arrangement: Arrangement, sections: list[Section], count: int = OPENING_SECTIONS):
    """``arrangement`` cut after its first ``count`` sections (notes that ring on are cut there),
    and those sections."""
    kept = list(sections[:count])
    if not kept:
        return arrangement, kept
    end = kept[-1].start + kept[-1].steps

    def cut(track: Track) -> Track:
        notes = tuple(replace(n, steps=min(n.steps, end - n.start)) for n in track.notes if n.start < end)
        return replace(track, notes=notes)

    return replace(arrangement, tracks=tuple(map(cut, arrangement.tracks)), steps=end), kept


def opening_arrangement(
    tokens: list[str], sections: list[Section], mood: str, tempo: int | None, key: str, extras: Extras
) -> tuple[Arrangement, list[Section]]:
    """The draft arranged as a song of its own (what ``composer.render`` does), then cut."""
    arrangement = arrange(
        song_onsets(tokens, sections),
        len(tokens),
        mood,
        sections,
        tempo,
        Key.from_name(key) if key else None,
        lead=extras.lead,
        keep_register=extras.keep_register,
    )
    return opening_of(arrangement, sections)


def render_opening(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    out_dir: Path,
    stem: str,
    *,
    tempo: int | None,
    soundfont: Path | None,
    max_bytes: int,
    key: str = "",
    extras: Extras | None = None,
) -> SongFiles:
    """``<stem>-opening.ogg`` (Ogg Opus: it plays inline), at the song's loudness target. No MIDI
    file is written: ``midi`` names the one the whole song will have."""
    out_dir.mkdir(parents=True, exist_ok=True)
    arrangement, kept = opening_arrangement(tokens, sections, mood, tempo, key, extras or Extras())
    midi = out_dir / f"{stem}.mid"
    files = SongFiles(midi, None, arrangement.seconds, arrangement.key.name, arrangement.tempo)
    try:
        path = audio.render(arrangement, kept, out_dir / f"{stem}-opening.ogg", "ogg", soundfont, max_bytes)
    except audio.AudioTooLargeError:
        return replace(files, no_audio=NoAudio.TOO_LARGE)
    except (FileNotFoundError, RuntimeError) as error:
        log.warning("the opening could not be rendered: %s", error)
        return replace(files, no_audio=NoAudio.UNAVAILABLE)
    return replace(files, audio=path)


def opening_renderer(draft, out_dir: Path, stem: str, soundfont: Path | None, max_bytes: int):
    """The job that renders ``draft``'s opening (a ``Composition``; the job pickles, for a worker)."""
    seeded = draft.request
    extras = Extras(lead=seeded.lead, keep_register=seeded.primer is not None)
    return functools.partial(
        render_opening,
        list(draft.tokens),
        list(draft.sections),
        seeded.mood,
        out_dir,
        stem,
        tempo=seeded.tempo,
        soundfont=soundfont,
        max_bytes=max_bytes,
        key=draft.key,
        extras=extras,
    )
