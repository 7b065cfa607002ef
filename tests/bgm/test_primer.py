"""Primers: a file's opening bars on the grid, pitches and positions kept; unusable files refused in one
sentence, before music21 reads them where a cheap check can tell, and with nothing written anywhere."""

import io
import os
import tempfile
import zipfile

import mido
import pytest

from bgm.primer import MAX_BARS, Primer, PrimerRejected, fit_vocab, read_primer
from bgm.tokens import decode

# (beat, MIDI pitch, beats): a tune in D major with a one-beat pickup and a dotted rhythm.
TUNE = [(0, 69, 1), (1, 74, 1.5), (2.5, 73, 0.5), (3, 74, 1), (4, 76, 2), (6, 78, 1), (7, 74, 1)]


def midi_bytes(notes, bars_of_silence_first=0.0, key=None, numerator=4, denominator=4) -> bytes:
    """A one-track MIDI file of ``notes``: (beat, pitch, beats)."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator))
    if key:
        track.append(mido.MetaMessage("key_signature", key=key))
    events = []
    for beat, pitch, beats in notes:
        start = round((beat + bars_of_silence_first * 4) * 480)
        events += [(start, 1, pitch), (start + round(beats * 480), 0, pitch)]
    now = 0
    for tick, on, pitch in sorted(events, key=lambda e: (e[0], e[1])):
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def test_the_notes_keep_their_pitches_and_their_places_in_the_bar():
    primer = read_primer("tune.mid", midi_bytes([(b + 3, p, d) for b, p, d in TUNE]))  # from beat 4
    onsets = [(o.step, o.pitches[0], o.steps) for o in decode(list(primer.tokens))]
    assert onsets == [(12 + 4 * b, p, round(4 * d)) for b, p, d in [(b, p, d) for b, p, d in TUNE]]
    assert primer.bars == 3 and primer.meter == "4/4" and primer.source == "tune.mid"


def test_the_key_the_file_declares_is_the_primers():
    assert read_primer("tune.mid", midi_bytes(TUNE, key="D")).key == "D major"


def test_without_a_declared_key_music21_analysis_names_it():
    assert read_primer("tune.mid", midi_bytes(TUNE)).key == "D major"


def test_only_the_first_bars_are_kept():
    long = [(beat, 60 + beat % 5, 1) for beat in range(4 * 20)]
    primer = read_primer("long.mid", midi_bytes(long))
    assert primer.bars == MAX_BARS and len(primer.tokens) == MAX_BARS * 16


def test_abc_and_musicxml_are_read_too():
    abc = b"X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc d2B2|c2A2 G4|\n"
    primer = read_primer("tune.abc", abc)
    assert [o.pitches[0] for o in decode(list(primer.tokens))][:4] == [67, 69, 71, 72]
    assert primer.key == "G major"
    from music21 import converter

    xml = converter.parseData(abc.decode(), format="abc").write("musicxml")
    with open(xml, "rb") as f:
        assert read_primer("tune.musicxml", f.read()).tokens == primer.tokens
    os.remove(xml)


@pytest.mark.parametrize(
    "name, data, meter",
    [
        ("waltz.mid", midi_bytes(TUNE, numerator=3), "3/4"),
        ("jig.mid", midi_bytes(TUNE, numerator=6, denominator=8), "6/8"),
    ],
)
def test_a_primer_in_3_4_or_6_8_keeps_its_meter_notes_and_12_step_bars(name, data, meter):
    primer = read_primer(name, data)
    assert primer.meter == meter and primer.grid.bar == 12
    assert [(o.step, o.pitches[0]) for o in decode(list(primer.tokens))] == [(4 * b, p) for b, p, _ in TUNE]
    assert len(primer.tokens) % 12 == 0 and primer.bars == len(primer.tokens) // 12


def test_a_waltz_in_abc_starts_on_its_bar_line_and_is_cut_after_8_of_its_bars():
    bars = " | ".join(["A d c", "d e f"] * 6)  # 12 bars of 3/4
    primer = read_primer("waltz.abc", f"X:1\nT:w\nM:3/4\nL:1/4\nK:D\n{bars} |\n".encode())
    onsets = decode(list(primer.tokens))
    assert onsets[0].step == 0 and onsets[1].step == 4
    assert len(primer.tokens) == MAX_BARS * 12 and primer.bars == MAX_BARS


@pytest.mark.parametrize(
    "name, data, meter",
    [
        ("five.mid", midi_bytes(TUNE, numerator=5), "5/4"),
        ("slip.abc", b"X:1\nT:j\nM:9/8\nL:1/8\nK:D\nA | dcd efd ABc | e3 d3 c3 |\n", "9/8"),
    ],
)
def test_a_primer_in_a_meter_without_a_grid_is_refused_in_one_sentence(name, data, meter):
    with pytest.raises(PrimerRejected) as refused:
        read_primer(name, data)
    assert str(refused.value) == (
        f"The primer `{name}` is in {meter}, but songs are in 4/4 (also written 2/4, 2/2 or 4/2), "
        "3/4 or 6/8 only."
    )


@pytest.mark.parametrize("numerator, denominator", [(2, 2), (2, 4), (4, 2)])
def test_a_primer_in_another_duple_meter_keeps_its_meter_and_positions(numerator, denominator):
    primer = read_primer("march.mid", midi_bytes(TUNE, numerator=numerator, denominator=denominator))
    assert primer.meter == f"{numerator}/{denominator}"
    assert [(o.step, o.pitches[0]) for o in decode(list(primer.tokens))] == [(4 * b, p) for b, p, _ in TUNE]


def test_a_primer_round_trips_through_a_dict():
    primer = read_primer("tune.mid", midi_bytes(TUNE))
    assert Primer.from_dict(primer.to_dict()) == primer


def test_a_primer_in_the_other_mode_is_moved_to_its_parallel_mode_then_to_a_minor():
    primer = read_primer("tune.mid", midi_bytes(TUNE, key="D"))
    minor = [o.pitches[0] for o in decode(primer.in_normal_key("minor"))]
    major = [o.pitches[0] for o in decode(primer.in_normal_key("major"))]
    assert major == [67, 72, 71, 72, 74, 76, 72]  # D major -> C major: down a whole tone
    # D major -> D minor (F# becomes F, C# stays the leading tone) -> A minor: down a fourth.
    assert minor == [64, 69, 68, 69, 71, 72, 69]


def test_notes_a_model_has_no_token_for_move_by_octaves_or_are_left_out():
    vocab = ("_", "60:4", "62:2", "72:4")
    assert fit_vocab(["48:4", "62:3", "_", "61:4"], vocab) == ["60:4", "62:2", "_", "_"]


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.mid", b"MThd" + bytes(50_000_000))
    return buffer.getvalue()


BAD = {
    "random bytes": ("noise.mid", os.urandom(4096), "is not a MIDI file"),
    "an empty MIDI file": ("empty.mid", midi_bytes([]), "has no notes to start a song with"),
    "10,000 bars": ("long.mid", midi_bytes([(4 * b, 60, 1) for b in range(10_000)]), "beats, over the limit"),
    "a zip bomb renamed .mid": ("bomb.mid", zip_bomb(), "is not a MIDI file (no MThd header)"),
    "a text file": ("notes.txt", b"hello", "is not a music file"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_primer_is_refused_in_one_sentence_writing_nothing(case, tmp_path, monkeypatch):
    name, data, reason = BAD[case]
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), scratch.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(PrimerRejected) as error:
        read_primer(name, data)
    message = str(error.value)
    assert message.startswith(f"The primer `{name}` ") and reason in message and message.count(". ") == 0
    assert list(home.iterdir()) == [] and list(scratch.iterdir()) == []
