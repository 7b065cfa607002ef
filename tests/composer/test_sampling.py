import numpy as np
import pytest

from composer.sampling import greedy, sample


def test_top_p_never_picks_outside_the_nucleus():
    logits = np.log(np.array([[0.6, 0.3, 0.05, 0.05]]))
    rng = np.random.default_rng(0)
    picks = {int(sample(logits, 1.0, 0.85, rng)[0]) for _ in range(500)}
    assert picks == {0, 1}


def test_sampling_is_not_argmax():
    logits = np.log(np.array([[0.5, 0.5 - 1e-6, 1e-6]]))
    rng = np.random.default_rng(1)
    picks = [int(sample(logits, 1.0, 1.0, rng)[0]) for _ in range(200)]
    assert 0.3 < np.mean(np.array(picks) == 1) < 0.7
    assert int(greedy(logits)[0]) == 0


def test_low_temperature_sharpens_the_choice():
    logits = np.log(np.array([[0.5, 0.3, 0.2]]))
    rng = np.random.default_rng(2)
    cold = [int(sample(logits, 0.1, 1.0, rng)[0]) for _ in range(200)]
    assert np.mean(np.array(cold) == 0) > 0.95


def test_the_same_generator_state_gives_the_same_tokens():
    logits = np.random.default_rng(3).normal(size=(4, 50))
    a = sample(logits, 1.0, 0.9, np.random.default_rng(7))
    b = sample(logits, 1.0, 0.9, np.random.default_rng(7))
    assert (a == b).all()


def test_each_row_is_sampled_on_its_own():
    logits = np.full((2, 3), -50.0)
    logits[0, 2] = logits[1, 0] = 50.0
    assert sample(logits, 1.0, 0.9, np.random.default_rng(0)).tolist() == [2, 0]


@pytest.mark.parametrize(("temperature", "top_p"), [(0, 0.9), (1.0, 0), (1.0, 1.5)])
def test_bad_parameters_are_refused(temperature, top_p):
    with pytest.raises(ValueError):
        sample(np.zeros((1, 3)), temperature, top_p, np.random.default_rng(0))
