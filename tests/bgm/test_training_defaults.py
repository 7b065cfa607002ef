"""Training's defaults: one set, the shipped model's, read by ``bgm train`` and the training code."""

import pytest

from bgm.training_defaults import DEFAULTS, TrainingDefaults
from cli.main import main


def test_the_default_network_is_the_shipped_causal_lstm():
    assert (DEFAULTS.arch, DEFAULTS.units, DEFAULTS.window) == ("lstm", 128, 32)


def test_an_unknown_network_is_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        TrainingDefaults(arch="transformer")


def test_bgm_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default: lstm" in shown and "runs/train" in shown
