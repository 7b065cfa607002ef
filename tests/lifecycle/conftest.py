"""A models folder of fake versions: the lifecycle reads folders and files, never a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def fake_version(model_dir: Path, version: int, figures: dict | None = None, arch: str = "lstm") -> Path:
    path = model_dir / str(version)
    (path / "variables").mkdir(parents=True)
    info = json.dumps({"val_loss": 1.0, "val_perplexity": 2.0 + version / 10, **(figures or {})})
    (path / "saved_model.pb").write_bytes(b"\x08\x01garbage" + info.encode() + b"\x12more")
    (path / "assets.extra" / "bgm").mkdir(parents=True)
    config = {"arch": arch, "units": 64, "window": 32, "melody_inputs": version > 2}
    (path / "assets.extra" / "bgm" / "model.json").write_text(json.dumps({"config": config}))
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """``models/bgm/1..3`` with no config."""
    root = tmp_path / "models"
    for version in (1, 2, 3):
        fake_version(root / "bgm", version)
    return root
