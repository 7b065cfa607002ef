import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgm.tokens import DURATIONS, HOLD, Onset, decode, encode, onset_token, parse_token, quantize_steps

pitch_sets = st.lists(st.integers(21, 108), min_size=1, max_size=4, unique=True).map(
    lambda p: tuple(sorted(p))
)
onset_tokens = st.builds(onset_token, pitch_sets, st.sampled_from(DURATIONS))
token_streams = st.lists(st.one_of(st.just(HOLD), onset_tokens), max_size=200)


@given(token_streams)
def test_decoding_then_encoding_gives_the_same_tokens(tokens):
    assert encode(decode(tokens), len(tokens)) == tokens


@given(st.lists(st.tuples(st.integers(0, 400), pitch_sets, st.sampled_from(DURATIONS)), max_size=50))
def test_onsets_pitches_and_durations_survive_a_round_trip(raw):
    by_step = {step: Onset(step, pitches, steps) for step, pitches, steps in raw}  # one onset per step
    onsets = sorted(by_step.values(), key=lambda o: o.step)
    assert decode(encode(onsets)) == onsets


def test_chords_keep_their_octaves():
    token = onset_token((48, 64, 67), 8)
    assert parse_token(token) == ((48, 64, 67), 8)


def test_a_rest_is_silence_before_the_next_note_not_after_it():
    # quarter rest, then a quarter C: the onset lands on step 4, after four empty steps
    tokens = encode([Onset(4, (60,), 4)])
    assert tokens[:5] == [HOLD, HOLD, HOLD, HOLD, "60:4"]


def test_a_rest_advances_time_once():
    # C (1 quarter), rest (1 quarter), D: D starts exactly 8 steps in
    tokens = encode([Onset(0, (60,), 4), Onset(8, (62,), 4)])
    assert decode(tokens)[1].step == 8
    assert len(tokens) == 12


def test_hold_is_recognised_by_value_not_identity():
    built = "".join(["_"])  # a string equal to HOLD but not the same object
    assert parse_token(built) is None


def test_onsets_on_one_step_merge_into_a_chord():
    assert encode([Onset(0, (60,), 4), Onset(0, (64,), 2)]) == ["60.64:4", HOLD, HOLD, HOLD]


@pytest.mark.parametrize("bad", ["", "60", "60:5", "x:4", "64.60:4", "200:4"])
def test_malformed_tokens_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_token(bad)


def test_durations_quantize_to_the_nearest_allowed_length():
    assert quantize_steps(0.4) == 1
    assert quantize_steps(5) == 4  # tie between 4 and 6 goes to the shorter
    assert quantize_steps(7) == 6
    assert quantize_steps(40) == 16
