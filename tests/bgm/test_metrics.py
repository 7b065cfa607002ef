import math

import numpy as np
import pytest

from bgm.metrics import (
    METRICS,
    empty_beat_rate,
    groove_consistency,
    longest_loop,
    measure,
    pitch_class_entropy,
    scale_consistency,
    summary,
)
from bgm.tokens import HOLD

C_MAJOR = (60, 62, 64, 65, 67, 69, 71, 72)


def notes(pitches, steps: int = 4) -> list[str]:
    """One note per ``steps`` steps, each lasting ``steps``."""
    out = []
    for p in pitches:
        out += [f"{p}:{steps}"] + [HOLD] * (steps - 1)
    return out


def test_a_c_major_scale_is_fully_in_scale():
    assert scale_consistency(notes(C_MAJOR)) == 1.0


def test_chromatic_notes_lower_scale_consistency_by_their_duration():
    # Seven C-major notes of 4 steps and one F# of 4 steps: 28 of 32 steps in the scale.
    tokens = notes((60, 62, 64, 65, 67, 69, 71, 66))
    assert scale_consistency(tokens) == pytest.approx(28 / 32)


def test_chord_pitches_each_count_toward_scale_consistency():
    assert scale_consistency(["60.64.67:4", HOLD, HOLD, HOLD] * 4) == 1.0


def test_one_pitch_class_has_zero_entropy():
    assert pitch_class_entropy(notes((60, 72, 48, 60))) == 0.0


def test_twelve_equal_pitch_classes_have_log2_12_bits():
    assert pitch_class_entropy(notes(range(60, 72), 2)) == pytest.approx(math.log2(12))


def test_entropy_is_weighted_by_duration():
    # C for 12 steps, G for 4: p = (3/4, 1/4).
    tokens = ["60:12"] + [HOLD] * 11 + ["67:4"] + [HOLD] * 3
    expected = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert pitch_class_entropy(tokens) == pytest.approx(expected)


def test_notes_ringing_past_the_end_count_only_what_sounds():
    # G sounds 4 steps; C would last 16 but the stream ends 4 steps after it starts: 1 bit.
    tokens = ["67:4", HOLD, HOLD, HOLD, "60:16", HOLD, HOLD, HOLD]
    assert pitch_class_entropy(tokens) == pytest.approx(1.0)


def test_all_hold_is_all_empty_beats_and_has_no_pitch_metrics():
    tokens = [HOLD] * 64
    assert empty_beat_rate(tokens) == 1.0
    assert math.isnan(pitch_class_entropy(tokens))
    assert math.isnan(scale_consistency(tokens))
    assert longest_loop(tokens) == 0


def test_a_held_note_fills_its_beats():
    # A 16th note on each beat: no beat is empty.
    assert empty_beat_rate(["60:1", HOLD, HOLD, HOLD] * 8) == 0.0
    # An 8-step note then 8 steps of rest: half the beats are empty.
    assert empty_beat_rate(["60:8"] + [HOLD] * 15) == 0.5
    # A note sounding into the next beat keeps that beat from being empty.
    assert empty_beat_rate([HOLD, HOLD, "60:3", HOLD, HOLD, HOLD, HOLD, HOLD]) == 0.0


def test_a_trailing_partial_beat_counts():
    assert empty_beat_rate(["60:4", HOLD, HOLD, HOLD, HOLD, HOLD]) == 0.5


def test_identical_bars_have_groove_consistency_one():
    bar = ["60:2", HOLD, "62:4", HOLD, HOLD, HOLD, "64:2", HOLD] + ["65:8"] + [HOLD] * 7
    assert groove_consistency(bar * 4) == 1.0


def test_groove_consistency_depends_on_rhythm_not_pitch():
    one = notes((60, 62, 64, 65))
    other = notes((67, 69, 71, 72))
    assert groove_consistency(one + other) == 1.0


def test_groove_consistency_is_one_minus_mean_normalised_hamming():
    quarters = notes((60, 62, 64, 65))  # onsets at 0, 4, 8, 12
    eighths = notes((60,) * 8, 2)  # onsets at 0, 2, ..., 14: differs from quarters on 4 steps
    sixteenths = notes((60,) * 16, 1)  # differs from eighths on 8 steps
    assert groove_consistency(quarters + eighths + sixteenths) == pytest.approx(1 - (4 / 16 + 8 / 16) / 2)


def test_groove_consistency_needs_two_full_bars():
    assert math.isnan(groove_consistency(notes(C_MAJOR)[:16] + [HOLD] * 15))
    assert not math.isnan(groove_consistency([HOLD] * 32))


def test_a_four_token_loop_repeated_back_to_back_has_length_four():
    loop = ["60:1", "62:1", "64:2", HOLD]
    tokens = ["67:4", HOLD, HOLD, HOLD] + loop * 2 + ["72:8"] + [HOLD] * 7
    assert longest_loop(tokens) == 4


def test_a_loop_repeated_many_times_has_a_multiple_of_its_period():
    loop = ["60:1", "62:1", "64:2", HOLD]
    assert longest_loop(loop * 4) == 8  # the first 8 tokens equal the next 8
    assert longest_loop(loop * 5) == 8


def test_one_note_on_every_step_loops_over_half_the_stream():
    assert longest_loop(["60:1"] * 20) == 10


def test_loops_of_hold_alone_do_not_count():
    tokens = ["60:16"] + [HOLD] * 15 + ["62:16"] + [HOLD] * 15
    assert longest_loop(tokens) == 0
    # ...but a repeated stretch with a hold and an onset does.
    assert longest_loop(["60:1", HOLD, "60:1", HOLD, "62:4"]) == 2


def test_no_repetition_means_no_loop():
    assert longest_loop(notes(C_MAJOR, 1)) == 0
    assert longest_loop([]) == 0


def test_the_loop_search_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        tokens = [str(x) for x in rng.choice(["60:1", "62:1", HOLD], size=int(rng.integers(0, 30)))]
        expected = 0
        for size in range(1, len(tokens) // 2 + 1):
            for i in range(len(tokens) - 2 * size + 1):
                stretch = tokens[i : i + size]
                if stretch == tokens[i + size : i + 2 * size] and any(t != HOLD for t in stretch):
                    expected = size
        assert longest_loop(tokens) == expected


def test_measure_gives_every_metric():
    values = measure(notes(C_MAJOR) * 2)
    assert tuple(values) == METRICS
    assert values["scale_consistency"] == 1.0
    assert values["empty_beat_rate"] == 0.0
    assert values["groove_consistency"] == 1.0
    assert values["longest_loop"] == 32.0


def test_summary_leaves_out_nan():
    s = summary([1.0, 3.0, math.nan])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "count": 2}
    assert summary([math.nan])["count"] == 0
