"""What each version folder holds, read from its files without loading it: for ``bgm models list``.

A version is ``<models>/<model>/<N>/``. Its network comes from ``assets.extra/bgm/model.json`` (what
fine-tuning reads); its training figures from the JSON the export embeds in the ``metadata``
signature (found in ``saved_model.pb`` by its first key and read with ``json``'s own decoder, so no
TensorFlow is loaded); the quality gate's verdict from ``assets.extra/bgm/gate.json`` when the
version was published through the gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

EXTRA = Path("assets.extra") / "bgm"
GATE_FILE = EXTRA / "gate.json"
_INFO_START = b'{"val_loss": '  # training's figures dict starts with this key (training/train.py)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    path: Path
    labels: tuple[str, ...] = ()
    created: float = 0.0  # when it was published (the SavedModel's mtime), seconds since the epoch
    size_bytes: int = 0
    network: str = "?"
    figures: dict = field(default_factory=dict)  # training's: val_loss, val_perplexity, ...
    gate: dict = field(default_factory=dict)  # the quality gate's verdict and figures, if it went through one

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "labels": list(self.labels),
            "created": self.created,
            "size_bytes": self.size_bytes,
            "network": self.network,
            "val_perplexity": self.figures.get("val_perplexity"),
            "gate": self.gate or None,
        }


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _network(path: Path) -> str:
    try:
        config = json.loads((path / EXTRA / "model.json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return "?"
    parts = [f"{config.get('arch', 'blstm')} {config.get('units', '?')}"]
    parts.append(f"window {config.get('window', '?')}")
    if config.get("melody_inputs"):
        parts.append("melody")
        parts.append(" ".join(config.get("meters", ["4/4"])))  # the meters it writes in (bgm/meter.py)
    return ", ".join(parts)


def training_figures(path: Path) -> dict:
    """The figures training embedded in the version (``{}`` when it carries none)."""
    try:
        data = (path / "saved_model.pb").read_bytes()
    except OSError:
        return {}
    start = data.find(_INFO_START)
    if start < 0:
        return {}
    try:
        figures, _ = json.JSONDecoder().raw_decode(data[start:].decode("utf-8", errors="replace"))
    except ValueError:
        return {}
    return figures if isinstance(figures, dict) else {}


def _gate(path: Path) -> dict:
    try:
        return json.loads((path / GATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def describe(model_dir: Path, version: int, labels: dict[str, int] | None = None) -> VersionInfo:
    path = Path(model_dir) / str(version)
    try:
        created = (path / "saved_model.pb").stat().st_mtime
    except OSError:
        created = 0.0
    return VersionInfo(
        version=version,
        path=path,
        labels=tuple(sorted(label for label, v in (labels or {}).items() if v == version)),
        created=created,
        size_bytes=_size(path),
        network=_network(path),
        figures=training_figures(path),
        gate=_gate(path),
    )
