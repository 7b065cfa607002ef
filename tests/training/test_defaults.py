"""``bgm train``, ``TrainOptions`` and the training loop take their defaults from one place."""

from dataclasses import fields

from bgm.training_defaults import DEFAULTS
from cli.main import main
from training.loop import LoopConfig
from training.train import TrainOptions


def test_train_options_and_the_loop_default_to_the_shared_defaults():
    options, loop = TrainOptions(), LoopConfig()
    for field in fields(DEFAULTS):
        if hasattr(options, field.name):
            assert getattr(options, field.name) == getattr(DEFAULTS, field.name), field.name
        if hasattr(loop, field.name):
            assert getattr(loop, field.name) == getattr(DEFAULTS, field.name), field.name


def test_bgm_train_builds_the_same_options_as_the_library(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("training.train.train", seen.append)
    monkeypatch.setenv("BGM_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert main(["train"]) == 0
    (options,) = seen
    library = TrainOptions()
    for field in fields(TrainOptions):
        if field.name != "models_dir":
            assert getattr(options, field.name) == getattr(library, field.name), field.name
    assert options.models_dir == tmp_path / "elsewhere"  # BGM_MODELS_DIR is honoured by bgm train
