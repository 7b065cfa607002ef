import numpy as np
import pytest

from bgm.constraints import Constraints, Rules, longest_note
from bgm.tokens import HOLD

VOCAB = (HOLD, "60:4", "61:4", "62:4", "64:4", "79:4", "50:4", "72:4", "68:4")


def _constraints(rows=1, **rules):
    return Constraints(VOCAB, Rules(**rules), rows)


def test_out_of_key_notes_are_made_unlikely_not_forbidden():
    c = _constraints(leap_cost=0.0)
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 2] - out[0, 1] == pytest.approx(np.log(Rules().out_of_key))  # C# against C
    assert out[0, 1] == out[0, 3]  # C, D


def test_the_leading_tone_of_a_minor_is_in_key_in_minor_only():
    minor = _constraints(mode="minor").apply(np.zeros((1, len(VOCAB))))
    major = _constraints(mode="major").apply(np.zeros((1, len(VOCAB))))
    assert minor[0, 8] == minor[0, 1]  # G# as likely as C
    assert major[0, 8] < major[0, 1]


def test_pitches_outside_the_register_are_ruled_out():
    out = _constraints().apply(np.zeros((1, len(VOCAB))))
    assert out[0, 6] == -np.inf  # 50, under the register


def test_a_leap_over_an_octave_from_the_last_note_is_ruled_out():
    c = _constraints()
    c.advance(np.array([1]))  # C4
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 5] == -np.inf  # G5: 19 semitones up
    assert np.isfinite(out[0, 7])  # C5: an octave


def test_after_max_rest_steps_of_silence_a_note_must_start():
    c = _constraints(max_rest=4)
    c.advance(np.array([1]))  # a quarter note: sounds for steps 0..3
    for _ in range(3):
        assert np.isfinite(c.apply(np.zeros((1, len(VOCAB))))[0, 0])
        c.advance(np.array([0]))
    for _ in range(4):  # steps 4..7 are silent: HOLD allowed while the silence is shorter than 4 steps
        out = c.apply(np.zeros((1, len(VOCAB))))
        if c.step - 4 >= 4:
            break
        assert np.isfinite(out[0, 0])
        c.advance(np.array([0]))
    assert c.apply(np.zeros((1, len(VOCAB))))[0, 0] == -np.inf


def test_rows_keep_their_own_lines():
    c = _constraints(rows=2, max_rest=1)
    c.advance(np.array([1, 0]))
    out = c.apply(np.zeros((2, len(VOCAB))))
    assert np.isfinite(out[0, 0]) and out[1, 0] == -np.inf


def test_a_primer_gives_the_last_pitch_but_its_notes_do_not_sound_in_the_part():
    c = _constraints(max_rest=4)
    c.start_from([["64:8", HOLD, HOLD]])  # struck 3 steps before step 0: in the song, not played
    assert c.lines[0].last_pitch == 64 and c.lines[0].sounding_until == 0
    for _ in range(4):
        assert not c.must_strike(0)
        c.advance(np.array([0]))
    assert c.must_strike(0)  # a part opens with at most max_rest steps of rest


def test_when_every_token_is_ruled_out_the_model_decides():
    c = Constraints(("60:4", "50:4"), Rules(low=70), 1)
    logits = np.array([[1.0, 2.0]])
    assert c.apply(logits).tolist() == logits.tolist()


def test_wider_leaps_cost_more_and_steps_nothing():
    c = _constraints(leap_cost=0.2)
    c.advance(np.array([1]))  # C4
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 4] - out[0, 3] == pytest.approx(-0.2 * 2)  # E, a third, against D, a step
    assert out[0, 7] < out[0, 4]  # C5: an octave costs more


def _note_chance(c: Constraints, logits: np.ndarray) -> float:
    p = np.exp(logits - logits.max())
    return float(p[c.is_onset].sum() / p.sum())


def test_the_rules_choose_which_note_not_whether_one_starts():
    logits = np.random.default_rng(0).normal(size=(1, len(VOCAB)))
    kept = _constraints(leap_cost=0.5)
    kept.advance(np.array([1]))
    assert _note_chance(kept, kept.apply(logits)[0]) == pytest.approx(_note_chance(kept, logits[0]))
    # Without it, every penalty on a note would hold the last one longer instead.
    dropped = _constraints(leap_cost=0.5, keep_onset_odds=False)
    dropped.advance(np.array([1]))
    assert _note_chance(dropped, dropped.apply(logits)[0]) < _note_chance(dropped, logits[0]) - 0.05


def test_a_note_longer_than_a_half_is_struck_as_a_half_until_the_last_bar():
    vocab = (HOLD, "62:16", "62:8", "64:16", "64:4")
    logits = np.log(np.array([[0.2, 0.3, 0.1, 0.3, 0.1]]))
    c = Constraints(vocab, Rules(longest=8, leap_cost=0.0, repeat_cost=0.0), 1, cadence=1)
    p = np.exp(c.apply(logits)[0])
    # D's whole note becomes its half note; E has no half note in this vocabulary: its chance goes to
    # the other notes; a note's chance against holding stays the model's.
    assert p[1] == 0 and p[3] == 0
    assert p[2] / p.sum() == pytest.approx(0.4 / 0.5 * 0.8) and p[0] / p.sum() == pytest.approx(0.2)
    c.advance(np.array([2]))
    assert np.exp(c.apply(logits)[0])[1] > 0  # the last bar (the cadence) may hold as long as it likes


def test_a_lead_that_dies_away_holds_a_dotted_half_at_most_and_one_that_sustains_a_bar():
    piano, pizzicato, marimba, guitar = 0, 45, 12, 24
    flute, violin, horn, organ, bagpipe = 73, 40, 60, 19, 109
    assert {longest_note(p) for p in (piano, pizzicato, marimba, guitar)} == {12}
    assert {longest_note(p) for p in (flute, violin, horn, organ, bagpipe)} == {16}


def test_striking_the_last_pitch_again_costs_a_little():
    c = _constraints(leap_cost=0.0, repeat_cost=0.5)
    c.advance(np.array([1]))  # C4
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 1] - out[0, 3] == pytest.approx(-0.5)


def test_the_cadence_step_strikes_the_tonic():
    c = Constraints(VOCAB, Rules(mode="major"), 1, cadence=0)
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert set(np.flatnonzero(np.isfinite(out[0]))) == {1, 7}  # C4 and C5: no HOLD, no other pitch
    minor = Constraints(VOCAB, Rules(mode="minor"), 1, cadence=0).apply(np.zeros((1, len(VOCAB))))
    assert np.isfinite(minor[0]).all()  # no A in this vocabulary: nothing is left, so the model decides


def test_an_echo_keeps_the_rhythm_of_its_source_and_leaves_the_pitch_to_the_model():
    vocab = (HOLD, "60:4", "62:4", "64:2", "67:4")
    c = Constraints(vocab, Rules(leap_cost=0.0), 2)
    logits = c.apply(np.zeros((2, len(vocab))))
    echo = c.keep_rhythm(logits, 0, source=1)  # a quarter note: any pitch, only as a quarter
    assert set(np.flatnonzero(np.isfinite(echo[0]))) == {1, 2, 4}
    assert (echo[1] == logits[1]).all()  # the other row writes freely
    assert set(np.flatnonzero(np.isfinite(c.keep_rhythm(logits, 0, source=0)[0]))) == {0}  # a hold


def test_an_echo_gives_way_to_the_rests_bound_and_to_a_vocabulary_without_its_rhythm():
    c = _constraints(rows=1, max_rest=2)
    for _ in range(2):
        c.advance(np.array([0]))
    logits = c.apply(np.zeros((1, len(VOCAB))))
    assert (c.keep_rhythm(logits, 0, source=0) == logits).all()  # silent too long: a note, not a hold
    short = Constraints((HOLD, "60:4", "62:2"), Rules(), 1)
    ruled = short.apply(np.zeros((1, 3)))
    ruled[0, 2] = -np.inf
    assert (short.keep_rhythm(ruled, 0, source=2) == ruled).all()  # no eighth left: the rules decide
