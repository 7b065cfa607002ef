from music21 import chord, meter, note, stream, tie

from bgm.melody import melody_line
from bgm.score import melody_of, meter_of, pieces_of
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
    melody = melody_of(_score(note.Rest(quarterLength=1), note.Note("C4", quarterLength=2)))
    assert melody.onsets == [Onset(4, (60,), 8)]


def test_a_chord_in_the_lead_becomes_its_top_note():
    melody = melody_of(_score(chord.Chord(["C3", "E4", "G5"], quarterLength=1)))
    assert melody.onsets == [Onset(0, (79,), 4)]
    assert melody.texture == 3


def test_the_melody_is_the_first_part_and_the_others_count_only_for_texture():
    lead, low = stream.Part(), stream.Part()
    lead.append([note.Note("E5", quarterLength=1), note.Note("D5", quarterLength=1)])
    low.append([note.Note("C3", quarterLength=2)])
    score = stream.Score([lead, low])
    melody = melody_of(score)
    assert [o.pitches for o in melody.onsets] == [(76,), (74,)]
    assert melody.texture == 1.5  # two pitches struck on step 0, one on step 4


def test_overlapping_notes_become_one_line_each_cut_where_the_next_starts():
    line = melody_line([(0, (60,), 8), (4, (64, 67), 4), (6, (62,), 1)])
    assert line == [Onset(0, (60,), 4), Onset(4, (67,), 2), Onset(6, (62,), 1)]


def test_a_cut_note_is_shortened_to_an_allowed_length_never_lengthened():
    # 11 steps to the next onset: the nearest allowed length is 12, which would overlap it.
    assert melody_line([(0, (60,), 16), (11, (62,), 4)])[0] == Onset(0, (60,), 8)


def test_a_pickup_is_placed_where_it_falls_in_the_bar():
    part = stream.Part()
    first = stream.Measure(number=0)
    first.append(meter.TimeSignature("4/4"))
    first.append(note.Note("G4", quarterLength=1))
    first.paddingLeft = 3.0  # one beat of a 4/4 bar: the pickup is beat 4
    second = stream.Measure(number=1)
    second.append(note.Note("C5", quarterLength=4))
    part.append([first, second])
    score = stream.Score([part])
    assert melody_of(score).phase == 12


def test_tied_notes_become_one_onset():
    first, second = note.Note("D4", quarterLength=1), note.Note("D4", quarterLength=1)
    first.tie, second.tie = tie.Tie("start"), tie.Tie("stop")
    assert melody_of(_score(first, second)).onsets == [Onset(0, (62,), 8)]


def test_pieces_with_too_few_notes_are_dropped():
    assert pieces_of(_score(note.Note("C4")), "tiny") == []


def test_a_piece_starts_at_its_first_note_and_keeps_its_phase():
    notes = [note.Rest(quarterLength=1)] + [note.Note(60 + i, quarterLength=1) for i in range(9)]
    (piece,) = pieces_of(_score(*notes), "walk")
    assert piece.tokens[0] == "60:4" and piece.phase == 4


def test_the_meter_is_read_from_the_score():
    assert meter_of(_score(note.Note("C4"), time_signature="6/8")) == "6/8"
