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

from bgm import audio, segments
from bgm.arrangement import Arrangement, Track, arrange
from bgm.form import Section, song_onsets
from bgm.harmony import Key
from bgm.segments import Plan
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


def draft_arrangement(
    tokens: list[str], sections: list[Section], mood: str, tempo: int | None, key: str, extras: Extras
) -> Arrangement:
    """The draft arranged as a song of its own (what ``composer.render`` does)."""
    return arrange(
        song_onsets(tokens, sections),
        len(tokens),
        mood,
        sections,
        tempo,
        Key.from_name(key) if key else None,
        lead=extras.lead,
        keep_register=extras.keep_register,
        meter=extras.grid,
    )


def opening_arrangement(
    tokens: list[str], sections: list[Section], mood: str, tempo: int | None, key: str, extras: Extras
) -> tuple[Arrangement, list[Section]]:
    """The draft arranged, then cut after its opening."""
    return opening_of(draft_arrangement(tokens, sections, mood, tempo, key, extras), sections)


def _part_of(plan: Plan, keep) -> Plan:
    """``plan`` with only the places ``keep(start)`` says, and the renders they need."""
    places = [(i, at) for i, at in plan.places if keep(at)]
    used = sorted({i for i, _ in places})
    index = {old: new for new, old in enumerate(used)}
    return Plan(tuple(plan.renders[i] for i in used), tuple((index[i], at) for i, at in places))


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
    """``<stem>-opening.ogg`` (Ogg Opus: it plays inline), at the song's loudness target, from the
    draft's own spans (the whole song's, when the draft is arranged as the song will be: with
    ``extras.spans`` they are kept for it). No MIDI file is written: ``midi`` names the song's."""
    extras = extras or Extras()
    out_dir.mkdir(parents=True, exist_ok=True)
    arrangement = draft_arrangement(tokens, sections, mood, tempo, key, extras)
    cut, kept = opening_of(arrangement, sections)
    files = SongFiles(out_dir / f"{stem}.mid", None, cut.seconds, cut.key.name, cut.tempo)
    path = out_dir / f"{stem}-opening.ogg"
    try:
        font = audio.ready_to_render("ogg", soundfont)
        plan = _part_of(segments.plan(arrangement, sections), lambda at: at < cut.steps)
        sound = audio.synthesize(arrangement, plan, font, audio.RATE, store=extras.spans)
        sound = audio.levelled(audio.shaped(sound, audio.RATE, cut.seconds), audio.RATE)
        path = audio.encode(sound, audio.RATE, path, "ogg", max_bytes)
    except audio.AudioTooLargeError:
        return replace(files, no_audio=NoAudio.TOO_LARGE)
    except (FileNotFoundError, RuntimeError) as error:
        log.warning("the opening could not be rendered: %s", error)
        return replace(files, no_audio=NoAudio.UNAVAILABLE)
    return replace(files, audio=path)


def render_rest(
    tokens: list[str],
    sections: list[Section],
    mood: str,
    *,
    tempo: int | None,
    soundfont: Path | None,
    spans: audio.SpanStore,
    key: str = "",
    extras: Extras | None = None,
    skip_opening: bool = True,
) -> int:
    """The draft's spans that are not in its opening (all of them: ``skip_opening=False``)
    synthesised into ``spans``, for the whole song to find; how many."""
    arrangement = draft_arrangement(tokens, sections, mood, tempo, key, extras or Extras())
    end = opening_of(arrangement, sections)[0].steps if skip_opening else 0
    plan = segments.plan(arrangement, sections)
    opening = {i for i, at in plan.places if at < end}
    rest = Plan(tuple(span for i, span in enumerate(plan.renders) if i not in opening), ())
    font = audio.ready_to_render("ogg", soundfont)
    audio.synthesize(arrangement, rest, font, audio.RATE, store=spans)
    return len(rest.renders)


def _extras(draft) -> Extras:
    request = draft.request
    return Extras(lead=request.lead, keep_register=request.primer is not None, meter=request.signature)


def opening_renderer(
    draft,
    out_dir: Path,
    stem: str,
    soundfont: Path | None,
    max_bytes: int,
    spans: audio.SpanStore | None = None,
) -> functools.partial[SongFiles]:
    """The job that renders ``draft``'s opening (a ``Composition``; the job pickles, for a worker)."""
    return functools.partial(
        render_opening,
        list(draft.tokens),
        list(draft.sections),
        draft.request.mood,
        out_dir,
        stem,
        tempo=draft.request.tempo,
        soundfont=soundfont,
        max_bytes=max_bytes,
        key=draft.key,
        extras=replace(_extras(draft), spans=spans),
    )


def rest_renderer(
    draft, soundfont: Path | None, spans: audio.SpanStore, skip_opening: bool = True
) -> functools.partial[int]:
    """The job that renders ``draft``'s other spans into ``spans`` (see ``render_rest``)."""
    return functools.partial(
        render_rest,
        list(draft.tokens),
        list(draft.sections),
        draft.request.mood,
        tempo=draft.request.tempo,
        soundfont=soundfont,
        spans=spans,
        key=draft.key,
        extras=_extras(draft),
        skip_opening=skip_opening,
    )
