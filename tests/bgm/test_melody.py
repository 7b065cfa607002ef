import numpy as np
import pytest

from bgm import melody
from bgm.harmony import Key
from bgm.meter import FOUR_FOUR, SIX_EIGHT, THREE_FOUR
from bgm.tokens import HOLD


@pytest.mark.parametrize(
    ("key", "shift"), [(Key(7, "major"), 5), (Key(2, "major"), -2), (Key(4, "minor"), 5)]
)
def test_the_normal_shift_moves_the_tonic_to_c_major_or_a_minor_the_short_way(key, shift):
    assert -6 <= shift <= 5
    assert melody.normal_shift(key) == shift
    assert (key.tonic + shift) % 12 == melody.NORMAL_TONIC[key.mode]


def test_transposition_round_trips():
    tokens = ["67:4", HOLD, "71.74:2", HOLD, "62:8"]
    assert melody.transpose(melody.transpose(tokens, 5), -5) == tokens
    assert melody.transpose(tokens, 5)[0] == "72:4"


def test_transposition_out_of_the_midi_range_is_refused():
    with pytest.raises(ValueError):
        melody.transpose(["120:4"], 12)


def test_a_tune_in_g_major_is_normalised_to_c_major():
    g_major = ["67:4", "69:4", "71:4", "72:4", "74:4", "76:4", "78:4", "79:4", "74:4", "71:4", "67:8"]
    normalised, key = melody.normalise(g_major)
    assert key == Key(7, "major")
    assert normalised[0] == "72:4" and normalised[-1] == "72:8"


def test_positions_count_through_a_four_bar_phrase_from_the_phase():
    pos = melody.positions(phase=60, length=8)
    assert pos.tolist() == [60, 61, 62, 63, 0, 1, 2, 3]
    assert melody.POSITIONS == 4 * melody.BAR


def test_each_meter_counts_its_own_phrase_in_its_own_range_of_positions():
    assert melody.positions(46, 4, THREE_FOUR).tolist() == [64 + 46, 64 + 47, 64 + 0, 64 + 1]
    assert melody.positions(0, 49, SIX_EIGHT)[[0, 47, 48]].tolist() == [112, 159, 112]
    assert melody.position_values(("4/4",)) == 64
    assert melody.position_values(("4/4", "3/4", "6/8")) == 160
    assert melody.position_values(("4/4", "6/8")) == 160  # 3/4's range unused
    for bad in [("4/4", "4/4"), ("5/4",), ()]:
        with pytest.raises(ValueError):
            melody.position_values(bad)


def test_lookback_counts_bars_of_the_meter():
    assert melody.lookback_steps(FOUR_FOUR) == (0, 16, 32)
    assert melody.lookback_steps(THREE_FOUR) == (0, 12, 24)
    assert melody.lookback_steps(SIX_EIGHT, (16, 32)) == (12, 24)


def test_lookbacks_are_the_last_note_struck_and_the_ids_one_and_two_bars_back():
    ids = np.array([5, 0, 0, 7] + [0] * 36, dtype=np.int32)
    ids[16], ids[32] = 9, 11
    back = melody.lookbacks(ids)
    assert melody.LOOKBACK == (0, 16, 32)
    assert back[0].tolist() == [0, 0, 0]  # nothing before the first step
    assert back[1].tolist() == [5, 0, 0] and back[3].tolist() == [5, 0, 0]  # 7 is struck at step 3 itself
    assert back[4].tolist() == [7, 0, 0]
    assert back[32].tolist() == [9, 9, 5]
    assert back[33].tolist() == [11, 0, 0]
    assert back[16 + 3].tolist() == [9, 7, 0]


def test_lookbacks_reach_one_step_past_the_ids_for_the_step_to_predict():
    ids = np.array([3] + [0] * 16, dtype=np.int32)
    assert melody.lookbacks(ids, length=18)[17].tolist() == [3, 0, 0]
    assert melody.lookbacks(ids, length=18)[16].tolist() == [3, 3, 0]


def test_one_line_cuts_a_note_where_the_next_one_starts():
    assert melody.one_line(["60:16", HOLD, HOLD, HOLD, "62:4", HOLD]) == [
        "60:4",
        HOLD,
        HOLD,
        HOLD,
        "62:4",
        HOLD,
    ]
