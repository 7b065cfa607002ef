"""Arrangements to Standard MIDI Files, written with mido.

A type-1 file: a tempo track, then one track per part on a channel of its own, the drums on channel
10 (where every General MIDI synth plays percussion). music21 wrote these files before; mido writes
the same messages about fifty times faster, and a command that only renders songs no longer loads
music21 (half a second of start-up).
"""

from __future__ import annotations

from pathlib import Path

import mido

from bgm.arrangement import Arrangement, Track
from bgm.tokens import STEP_QUARTERS

DRUM_CHANNEL = 9  # General MIDI's channel 10, counted from 0 as on the wire
TICKS_PER_QUARTER = 480
TICKS_PER_STEP = round(TICKS_PER_QUARTER * STEP_QUARTERS)


def channels(arrangement: Arrangement) -> list[int]:
    """The MIDI channel of each track: pitched parts in order around channel 10, drums on it."""
    pitched = (c for c in range(16) if c != DRUM_CHANNEL)
    return [DRUM_CHANNEL if t.is_drum else next(pitched) for t in arrangement.tracks]


def _track(track: Track, channel: int) -> mido.MidiTrack:
    """Program, then notes; at the same tick a note-off comes first, so a repeated note sounds again."""
    timed = []
    for n in track.notes:
        timed.append((n.start * TICKS_PER_STEP, 1, n.pitch, "note_on", n.velocity))
        timed.append((n.end * TICKS_PER_STEP, 0, n.pitch, "note_off", 0))
    timed.sort()
    events = mido.MidiTrack([mido.MetaMessage("track_name", name=track.name, time=0)])
    events.append(mido.Message("program_change", channel=channel, program=track.program, time=0))
    now = 0
    for tick, _, pitch, kind, velocity in timed:
        events.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - now))
        now = tick
    return events


def _end_at(track: mido.MidiTrack, ticks: int) -> None:
    """END_OF_TRACK at ``ticks``: a song that ends in rests still lasts its whole length."""
    elapsed = sum(message.time for message in track)
    track.append(mido.MetaMessage("end_of_track", time=max(0, ticks - elapsed)))


def write_midi(arrangement: Arrangement, path: str | Path, meter: str | None = None) -> Path:
    """Write ``arrangement`` as a type-1 MIDI file: a tempo track, then one track per part. ``meter``:
    the time signature written, else the arrangement's meter (a song opening with a primer in 2/2,
    2/4 or 4/2 keeps the primer's: 4/4's 16-step bar holds a whole number of their bars)."""
    numerator, denominator = (int(x) for x in (meter or arrangement.meter.name).split("/"))
    path = Path(path)
    mf = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    tempo = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(arrangement.tempo), time=0),
            mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0),
        ]
    )
    mf.tracks.append(tempo)
    mf.tracks += [_track(t, c) for t, c in zip(arrangement.tracks, channels(arrangement), strict=True)]
    for track in mf.tracks:
        _end_at(track, arrangement.steps * TICKS_PER_STEP)
    path.parent.mkdir(parents=True, exist_ok=True)
    mf.save(path)
    return path


def midi_seconds(path: str | Path) -> float:
    """Playing time of a MIDI file."""
    return float(mido.MidiFile(str(path)).length)
