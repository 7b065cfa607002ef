import pytest

from bgm.moods import MOODS, Features, features, is_compound, mood_of
from bgm.tokens import Onset


@pytest.mark.parametrize(
    ("f", "mood"),
    [
        (Features("minor", 0.8, 1.0, False), "tense"),
        (Features("minor", 0.2, 1.0, False), "sad"),
        (Features("major", 0.3, 4.0, False), "epic"),
        (Features("major", 0.8, 1.0, False), "playful"),
        (Features("major", 0.35, 1.0, True), "playful"),
        (Features("major", 0.2, 1.0, False), "calm"),
        (Features("major", 0.35, 1.0, False), "happy"),
    ],
)
def test_the_rule_gives_each_mood(f, mood):
    assert mood_of(f) == mood


def test_every_mood_is_reachable_and_named_once():
    assert len(set(MOODS)) == len(MOODS) >= 6


def test_compound_meters_are_recognised():
    assert is_compound("6/8") and is_compound("12/8")
    assert not is_compound("3/4") and not is_compound("4/4") and not is_compound("")


def test_features_measure_density_and_texture():
    onsets = [Onset(0, (60, 64, 67), 4), Onset(4, (62,), 4)]
    f = features(onsets, 8)
    assert f.density == pytest.approx(0.25)
    assert f.texture == pytest.approx(2.0)
