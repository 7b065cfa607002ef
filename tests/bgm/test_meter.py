import pytest

from bgm.meter import FOUR_FOUR, SIX_EIGHT, THREE_FOUR, by_name, meter_for


@pytest.mark.parametrize(
    ("signature", "meter"),
    [
        ("4/4", FOUR_FOUR), ("2/2", FOUR_FOUR), ("2/4", FOUR_FOUR), ("4/2", FOUR_FOUR), ("", FOUR_FOUR),
        ("3/4", THREE_FOUR), ("6/8", SIX_EIGHT), ("3/8", None), ("6/4", None), ("5/4", None), ("7/8", None),
    ],
)  # fmt: skip
def test_time_signatures_are_written_on_the_grid_of_a_meter_or_refused(signature, meter):
    assert meter_for(signature) == meter


def test_bars_phrases_and_beats():
    assert (FOUR_FOUR.bar, THREE_FOUR.bar, SIX_EIGHT.bar) == (16, 12, 12)
    assert THREE_FOUR.phrase == 48
    assert (THREE_FOUR.beat, SIX_EIGHT.beat) == (4, 6)


def test_the_downbeat_is_the_strongest_step_and_6_8_leans_on_its_second_dotted_beat():
    for meter in (FOUR_FOUR, THREE_FOUR, SIX_EIGHT):
        assert max(range(meter.bar), key=meter.accent) == 0
        assert meter.accent(meter.bar) == meter.accent(0)  # counted within the bar
    assert SIX_EIGHT.accent(6) > SIX_EIGHT.accent(4) > SIX_EIGHT.accent(3) == 0
    assert THREE_FOUR.accent(4) == THREE_FOUR.accent(8) > THREE_FOUR.accent(2)


def test_unknown_meter_names_are_refused():
    assert by_name("3/4") is THREE_FOUR
    with pytest.raises(ValueError, match="one of 4/4, 3/4, 6/8"):
        by_name("5/4")
