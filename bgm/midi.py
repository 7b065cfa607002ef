"""Arrangements to Standard MIDI Files, through music21."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mido
from music21 import chord, instrument, midi, note, stream, tempo

from bgm.arrangement import Arrangement, Track
from bgm.tokens import STEP_QUARTERS

DRUM_CHANNEL = 10  # General MIDI percussion; music21 numbers MIDI channels from 1 here


def _instrument(track: Track) -> instrument.Instrument:
    if track.is_drum:
        return instrument.UnpitchedPercussion()  # music21 puts these on channel 10
    inst = instrument.instrumentFromMidiProgram(track.program)
    inst.midiProgram = track.program  # keep the exact program, not the family's first one
    return inst


def to_part(track: Track) -> stream.Part:
    """A flat Part: notes inserted at their offsets, no measures, so no meter can break the writer."""
    part = stream.Part()
    part.partName = track.name
    part.insert(0, _instrument(track))
    # Notes that start, last and sound alike become one chord.
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for n in track.notes:
        groups[(n.start, n.steps, n.velocity)].append(n.pitch)
    for (start, steps, velocity), pitches in sorted(groups.items()):
        length = steps * STEP_QUARTERS
        element = (
            note.Note(pitches[0], quarterLength=length)
            if len(pitches) == 1
            else chord.Chord(sorted(pitches), quarterLength=length)
        )
        element.volume.velocity = velocity
        part.insert(start * STEP_QUARTERS, element)
    return part


def to_score(arrangement: Arrangement) -> stream.Score:
    """One Part per track, with the tempo."""
    score = stream.Score()
    score.insert(0, tempo.MetronomeMark(number=arrangement.tempo))
    for track in arrangement.tracks:
        score.insert(0, to_part(track))
    return score


def _end_every_track_at(mf: midi.MidiFile, ticks: int) -> None:
    """Put END_OF_TRACK at ``ticks``: music21 pads a quarter (older versions cannot be told not to),
    and a song ending in rests would otherwise end early; either way the MIDI's length drifts."""
    for track in mf.tracks:
        *body, last_delta, end = track.events
        if not (last_delta.isDeltaTime() and end.type == midi.MetaEvents.END_OF_TRACK):
            raise RuntimeError("unexpected MIDI track layout from music21")
        elapsed = sum(e.time for e in body if e.isDeltaTime())
        last_delta.time = max(0, ticks - elapsed)


def _force_drum_channel(mf: midi.MidiFile, arrangement: Arrangement) -> None:
    """Drums must sound on channel 10 or every synth plays them as piano notes."""
    for track, events in zip(arrangement.tracks, mf.tracks[1:], strict=True):
        if track.is_drum:
            for event in events.events:
                if not event.isDeltaTime() and isinstance(event.type, midi.ChannelVoiceMessages):
                    event.channel = DRUM_CHANNEL


def write_midi(arrangement: Arrangement, path: str | Path) -> Path:
    """Write ``arrangement`` as a type-1 MIDI file: a tempo track, then one track per part."""
    path = Path(path)
    mf = midi.translate.streamToMidiFile(to_score(arrangement))
    _end_every_track_at(mf, round(arrangement.steps * STEP_QUARTERS * mf.ticksPerQuarterNote))
    _force_drum_channel(mf, arrangement)
    path.parent.mkdir(parents=True, exist_ok=True)
    mf.open(str(path), "wb")
    try:
        mf.write()
    finally:
        mf.close()
    return path


def midi_seconds(path: str | Path) -> float:
    """Playing time of a MIDI file."""
    return float(mido.MidiFile(str(path)).length)
