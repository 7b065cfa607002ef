import mido
import pytest

from bgm.arrangement import arrange
from bgm.form import Section
from bgm.meter import SIX_EIGHT
from bgm.midi import midi_seconds, write_midi
from bgm.tokens import Onset

MELODY = [Onset(4 * i, (60 + (2 * i) % 12,), 4) for i in range(14)] + [Onset(56, (60, 64, 67), 8)]
SECTIONS = [Section("verse1", 0, 32), Section("chorus", 32, 32)]


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A four-bar happy arrangement (melody, harmony, bass, drums) and its MIDI, read back by mido."""
    arrangement = arrange(MELODY, 64, "happy", SECTIONS)
    path = write_midi(arrangement, tmp_path_factory.mktemp("midi") / "song.mid")
    return arrangement, path, mido.MidiFile(path)


def _programs(track):
    return [m.program for m in track if m.type == "program_change"]


def _channels(track):
    return {m.channel for m in track if m.type in ("note_on", "note_off", "program_change")}


def test_each_part_is_its_own_track_after_the_tempo_track(song):
    arrangement, _, mf = song
    assert mf.type == 1
    assert len(mf.tracks) == 1 + len(arrangement.tracks)


def test_each_track_sets_its_program(song):
    arrangement, _, mf = song
    for track, midi_track in zip(arrangement.tracks, mf.tracks[1:], strict=True):
        if not track.is_drum:
            assert _programs(midi_track) and set(_programs(midi_track)) == {track.program}


def test_drums_play_on_channel_10(song):
    arrangement, _, mf = song
    drums = [m for t, m in zip(arrangement.tracks, mf.tracks[1:], strict=True) if t.is_drum]
    assert len(drums) == 1 and _channels(drums[0]) == {9}


def test_pitched_tracks_keep_off_channel_10(song):
    arrangement, _, mf = song
    pitched = [m for t, m in zip(arrangement.tracks, mf.tracks[1:], strict=True) if not t.is_drum]
    assert all(9 not in _channels(track) for track in pitched)


def test_every_note_is_written_with_its_velocity(song):
    arrangement, _, mf = song
    for track, midi_track in zip(arrangement.tracks, mf.tracks[1:], strict=True):
        written = sorted((m.note, m.velocity) for m in midi_track if m.type == "note_on" and m.velocity > 0)
        assert written == sorted((n.pitch, n.velocity) for n in track.notes)


def test_the_tempo_is_written(song):
    arrangement, _, mf = song
    tempos = [m.tempo for m in mf.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(arrangement.tempo)]


def test_the_time_signature_is_the_arrangements_meter_unless_another_is_given(song, tmp_path):
    def signature(mf):
        return [(m.numerator, m.denominator) for m in mf.tracks[0] if m.type == "time_signature"]

    arrangement, _, mf = song
    assert signature(mf) == [(4, 4)]
    cut_time = write_midi(arrangement, tmp_path / "march.mid", meter="2/2")
    assert signature(mido.MidiFile(cut_time)) == [(2, 2)]
    jig = write_midi(arrange(MELODY, 60, "happy", meter=SIX_EIGHT), tmp_path / "jig.mid")
    assert signature(mido.MidiFile(jig)) == [(6, 8)]  # the arrangement's own meter when none is given


def test_the_midi_lasts_as_long_as_the_arrangement(song):
    arrangement, path, _ = song
    assert midi_seconds(path) == pytest.approx(arrangement.seconds, rel=0.02)


def test_an_empty_arrangement_still_lasts_its_steps(tmp_path):
    arrangement = arrange([], 32, "calm", tempo=120)
    path = write_midi(arrangement, tmp_path / "empty.mid")
    assert len(mido.MidiFile(path).tracks) == 1 + len(arrangement.tracks)
    assert midi_seconds(path) == pytest.approx(4.0, rel=0.02)
