"""Training's defaults: one set, the shipped model's, read by ``bgm train`` and the training code."""

import json
from pathlib import Path

import pytest

from bgm.training_defaults import DEFAULTS, TrainingDefaults
from cli.main import main

MODELS = Path(__file__).resolve().parents[2] / "models" / "bgm"


def test_the_defaults_train_the_shipped_default_network():
    latest = max((p for p in MODELS.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    config = json.loads((latest / "assets.extra" / "bgm" / "model.json").read_text())["config"]
    assert (DEFAULTS.arch, DEFAULTS.units, DEFAULTS.window) == (
        config["arch"],
        config["units"],
        config["window"],
    )


def test_an_unknown_network_is_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        TrainingDefaults(arch="transformer")


def test_bgm_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default: lstm" in shown and "runs/train" in shown
