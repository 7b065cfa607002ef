"""Fixtures shared by every test folder: small music files made on the spot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from music21 import chord, meter, note, stream, tempo

from tests.postgres import postgres, records_location  # noqa: F401 (fixtures for every folder)


def make_tune(seed: int, minor: bool = False, notes: int = 48, chords: bool = False) -> stream.Score:
    """A random-walk tune in C major or A minor, long enough to train on."""
    rng = random.Random(seed)
    scale = [57, 59, 60, 62, 64, 65, 68, 69] if minor else [60, 62, 64, 65, 67, 69, 71, 72]
    part = stream.Part()
    part.append(tempo.MetronomeMark(number=100))
    part.append(meter.TimeSignature("4/4"))
    i = 0
    for _ in range(notes):
        i = max(0, min(len(scale) - 1, i + rng.choice([-2, -1, 1, 2])))
        length = rng.choice([0.5, 0.5, 1.0, 1.0, 2.0])
        if rng.random() < 0.1:
            part.append(note.Rest(quarterLength=0.5))
        if chords:
            part.append(chord.Chord([scale[i] - 12, scale[i] - 5, scale[i]], quarterLength=length))
        else:
            part.append(note.Note(scale[i], quarterLength=length))
    score = stream.Score()
    score.insert(0, part)
    return score


def write_tunes(folder: Path, count: int = 6) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = folder / f"tune{k}.mid"
        make_tune(k, minor=k % 2 == 1, chords=k % 3 == 2).write("midi", fp=str(path))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def tune_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    write_tunes(folder)
    return folder


def export_tiny_model(
    version_dir: Path,
    seed: int = 0,
    units: int = 8,
    arch: str = "blstm",
    melody: bool = True,
    meters: tuple[str, ...] = ("4/4",),
) -> None:
    """An untrained, seeded model that honours the model contract: quick to make, real TF inside.
    ``melody=False`` makes one of the older contract (no position and lookback inputs)."""
    import keras
    import numpy as np

    from bgm.moods import MOODS
    from bgm.tokens import HOLD, onset_token
    from training.export import export
    from training.model import ModelConfig, build
    from training.vocab import Vocabulary

    keras.utils.set_random_seed(seed)
    tokens = [HOLD] + [onset_token((p,), d) for p in range(55, 80) for d in (1, 2, 4, 8)]
    vocab = Vocabulary(tuple(tokens))
    config = ModelConfig(
        len(vocab),
        len(MOODS),
        window=32,
        units=units,
        embedding=8,
        mood_embedding=4,
        arch=arch,
        melody_inputs=melody,
        lookback=(0, 16, 32) if melody else (16, 32),
        meters=meters,
    )
    rng = np.random.default_rng(seed)
    primers = {m: rng.integers(0, len(vocab), (len(MOODS), 4, 32)).astype(np.int32) for m in meters}
    export(build(config), config, vocab, primers, {"note": "untrained test model"}, version_dir)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A models folder holding ``bgm/1``, a tiny untrained model."""
    root = tmp_path_factory.mktemp("models")
    export_tiny_model(root / "bgm" / "1")
    return root


@pytest.fixture(scope="session")
def tiny_lstm_models(tmp_path_factory) -> Path:
    """A models folder holding ``bgm/1``, a tiny untrained causal model with a ``step`` signature."""
    root = tmp_path_factory.mktemp("lstm-models")
    export_tiny_model(root / "bgm" / "1", arch="lstm")
    return root


@pytest.fixture(scope="session")
def tiny_meter_models(tmp_path_factory) -> Path:
    """A models folder holding ``bgm/1``, a tiny untrained causal model that writes in 4/4, 3/4 and 6/8."""
    root = tmp_path_factory.mktemp("meter-models")
    export_tiny_model(root / "bgm" / "1", arch="lstm", meters=("4/4", "3/4", "6/8"))
    return root


@pytest.fixture(scope="session")
def tiny_legacy_models(tmp_path_factory) -> Path:
    """A models folder holding ``bgm/1``, a tiny causal model of the contract before melody inputs."""
    root = tmp_path_factory.mktemp("legacy-models")
    export_tiny_model(root / "bgm" / "1", arch="lstm", melody=False)
    return root


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server of the test's own (``tests/redis_server.py``), stopped afterwards."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()
