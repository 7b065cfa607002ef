from music21 import chord, meter, note, stream, tie

from bgm.score import meter_of, onsets_of, pieces_of
from bgm.tokens import Onset


def _score(*elements, time_signature="4/4"):
    part = stream.Part()
    part.append(meter.TimeSignature(time_signature))
    for element in elements:
        part.append(element)
    score = stream.Score()
    score.insert(0, part)
    return score


def test_a_leading_rest_delays_the_first_note():
    onsets = onsets_of(_score(note.Rest(quarterLength=1), note.Note("C4", quarterLength=2)))
    assert onsets == [Onset(4, (60,), 8)]


def test_chords_keep_the_octave_of_each_pitch():
    onsets = onsets_of(_score(chord.Chord(["C3", "E4", "G5"], quarterLength=1)))
    assert onsets[0].pitches == (48, 64, 79)


def test_tied_notes_become_one_onset():
    first, second = note.Note("D4", quarterLength=1), note.Note("D4", quarterLength=1)
    first.tie, second.tie = tie.Tie("start"), tie.Tie("stop")
    assert onsets_of(_score(first, second)) == [Onset(0, (62,), 8)]


def test_pieces_with_too_few_notes_are_dropped():
    assert pieces_of(_score(note.Note("C4")), "tiny") == []


def test_the_meter_is_read_from_the_score():
    assert meter_of(_score(note.Note("C4"), time_signature="6/8")) == "6/8"
