from dataclasses import replace

import pytest

from bgm.constraints import Rules
from bgm.meter import FOUR_FOUR, METERS, SIX_EIGHT, THREE_FOUR
from bgm.moods import MOODS
from bgm.styles import DRUM_PATTERNS, KICK, QUARTERS, SNARE, STYLES, drums_for, for_meter, style_for


def test_every_mood_has_a_style():
    assert set(STYLES) == set(MOODS)
    assert all(STYLES[mood].mood == mood for mood in MOODS)


def test_calm_and_sad_sample_cooler_than_playful_and_tense():
    cool = max(STYLES[m].temperature for m in ("calm", "sad"))
    warm = min(STYLES[m].temperature for m in ("playful", "tense"))
    assert 0.8 <= cool < warm <= 1.1


def test_the_melody_is_sampled_from_the_whole_distribution():
    assert all(s.top_p == 1.0 for s in STYLES.values())  # the rules, not a top-p cut, keep bad picks out


def test_slow_moods_have_no_drums_and_lively_ones_do():
    assert [m for m in MOODS if STYLES[m].has_drums] == ["happy", "epic", "tense", "playful"]


def test_driving_drums_are_busier_than_light_ones():
    assert len(DRUM_PATTERNS["driving"]) > len(DRUM_PATTERNS["light"]) > 0


def test_sad_and_tense_prefer_minor():
    assert {m for m in MOODS if STYLES[m].mode == "minor"} == {"sad", "tense"}


def test_rhythms_stay_inside_one_bar():
    for style in STYLES.values():
        for start, steps in style.harmony_rhythm + style.bass_rhythm:
            assert 0 <= start and steps > 0 and start + steps <= 16


@pytest.mark.parametrize("meter", METERS, ids=lambda m: m.name)
def test_every_rhythm_and_drum_pattern_stays_inside_one_bar_of_each_meter(meter):
    for style in STYLES.values():
        rhythms = for_meter(style.harmony_rhythm, meter) + for_meter(style.bass_rhythm, meter, bass=True)
        assert all(0 <= start and steps > 0 and start + steps <= meter.bar for start, steps in rhythms)
        assert all(0 <= step < meter.bar for step, _, _ in drums_for(style.drums, meter))


def test_4_4_plays_the_rhythms_and_patterns_as_written():
    assert for_meter(QUARTERS, FOUR_FOUR) == for_meter(QUARTERS, FOUR_FOUR, bass=True) == QUARTERS
    assert all(drums_for(name, FOUR_FOUR) == DRUM_PATTERNS[name] for name in DRUM_PATTERNS)


def test_quarters_in_3_4_are_a_waltz_and_in_6_8_oom_pah_pah_twice():
    assert for_meter(QUARTERS, THREE_FOUR, bass=True) == ((0, 4),)
    assert for_meter(QUARTERS, THREE_FOUR) == ((4, 4), (8, 4))
    assert {start for start, _ in for_meter(QUARTERS, SIX_EIGHT, bass=True)} == {0, 6}
    assert {start for start, _ in for_meter(QUARTERS, SIX_EIGHT)} == {2, 4, 8, 10}


def test_drums_kick_on_the_downbeat_and_6_8_has_its_backbeat_on_the_second_dotted_beat():
    for meter in (THREE_FOUR, SIX_EIGHT):
        for name in ("light", "driving"):
            assert (0, KICK, 0) in drums_for(name, meter)
    assert [step for step, key, _ in drums_for("driving", SIX_EIGHT) if key == SNARE] == [6]


def test_a_style_with_a_rhythm_that_has_no_3_4_or_6_8_form_is_rejected():
    with pytest.raises(ValueError, match="IN_METER"):
        replace(STYLES["calm"], harmony_rhythm=((0, 6), (6, 10)))


def test_an_unknown_mood_is_a_clear_error():
    with pytest.raises(ValueError, match="calm"):
        style_for("grumpy")


def test_a_program_outside_general_midi_is_rejected():
    with pytest.raises(ValueError, match="GM programs"):
        replace(STYLES["calm"], melody_program=128)


def test_a_mood_samples_under_its_own_rules():
    happy, calm = STYLES["happy"].rules("major", lead=0), STYLES["calm"].rules("major", lead=73)
    assert happy.repeat_cost < Rules.repeat_cost == calm.repeat_cost
    assert happy.leap_cost < Rules.leap_cost == calm.leap_cost  # happy moves as the network does
    assert (happy.mode, happy.longest) == ("major", 12)  # a piano lead holds a dotted half at most
    assert STYLES["sad"].rules("minor", lead=73) == Rules(mode="minor", longest=16)  # a flute, a bar
    with pytest.raises(ValueError, match="repeat_cost"):
        replace(STYLES["happy"], repeat_cost=-1.0)
    with pytest.raises(ValueError, match="leap_cost"):
        replace(STYLES["happy"], leap_cost=-0.1)
