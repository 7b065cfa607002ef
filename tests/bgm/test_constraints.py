import numpy as np

from bgm.constraints import Constraints, Rules
from bgm.tokens import HOLD

VOCAB = (HOLD, "60:4", "61:4", "62:4", "64:4", "79:4", "50:4", "72:4", "68:4")


def _constraints(rows=1, **rules):
    return Constraints(VOCAB, Rules(**rules), rows)


def test_out_of_key_notes_are_made_unlikely_not_forbidden():
    c = _constraints(leap_cost=0.0)
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 2] == np.log(Rules().out_of_key)  # C#
    assert out[0, 1] == 0 and out[0, 3] == 0  # C, D


def test_the_leading_tone_of_a_minor_is_in_key_in_minor_only():
    assert _constraints(mode="minor").apply(np.zeros((1, len(VOCAB))))[0, 8] == 0  # G#
    assert _constraints(mode="major").apply(np.zeros((1, len(VOCAB))))[0, 8] < 0


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
    assert out[0, 3] == 0  # D: a step
    assert out[0, 4] == -0.2 * 2  # E: a third, two semitones past a step
    assert out[0, 7] < out[0, 4]  # C5: an octave costs more


def test_striking_the_last_pitch_again_costs_a_little():
    c = _constraints(leap_cost=0.0, repeat_cost=0.5)
    c.advance(np.array([1]))  # C4
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert out[0, 1] == -0.5 and out[0, 3] == 0


def test_the_cadence_step_strikes_the_tonic():
    c = Constraints(VOCAB, Rules(mode="major"), 1, cadence=0)
    out = c.apply(np.zeros((1, len(VOCAB))))
    assert set(np.flatnonzero(np.isfinite(out[0]))) == {1, 7}  # C4 and C5: no HOLD, no other pitch
    minor = Constraints(VOCAB, Rules(mode="minor"), 1, cadence=0).apply(np.zeros((1, len(VOCAB))))
    assert np.isfinite(minor[0]).all()  # no A in this vocabulary: nothing is left, so the model decides
