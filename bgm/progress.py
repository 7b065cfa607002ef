"""Training progress as typed events: what ``bgm train`` reports and the bot reads, in one schema.

``bgm train --json-progress`` writes one JSON object per event on its own line of stdout
(``{"event": "epoch_ended", "epoch": 2, ...}``); other lines (skipped files, Keras) are for people
and readers ignore them. Without the flag the same events are printed as the sentences below.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class EpochStarted:
    kind: ClassVar[str] = "epoch_started"
    epoch: int  # 1-based
    epochs: int
    windows: int

    def text(self) -> str:
        return f"epoch {self.epoch}/{self.epochs}: {self.windows:,} windows"


@dataclass(frozen=True)
class EpochEnded:
    kind: ClassVar[str] = "epoch_ended"
    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    val_perplexity: float
    tokens_per_s: float

    def text(self) -> str:
        return (
            f"  loss {self.loss:.3f}  acc {self.accuracy:.3f}  val_loss {self.val_loss:.3f}"
            f"  val_acc {self.val_accuracy:.3f}  val_ppl {self.val_perplexity:.2f}"
            f"  {self.tokens_per_s:,.0f} tokens/s"
        )


@dataclass(frozen=True)
class EarlyStopped:
    kind: ClassVar[str] = "early_stopped"
    epoch: int
    patience: int

    def text(self) -> str:
        return f"early stop: no better validation loss for {self.patience} epochs"


@dataclass(frozen=True)
class Exporting:
    """Training is over; the best weights are being exported, checked and published."""

    kind: ClassVar[str] = "exporting"
    best_epoch: int

    def text(self) -> str:
        return f"exporting the weights of epoch {self.best_epoch}"


@dataclass(frozen=True)
class Published:
    kind: ClassVar[str] = "published"
    version: int
    path: str
    val_loss: float
    val_perplexity: float
    unigram_perplexity: float

    def text(self) -> str:
        return (
            f"published {self.path}: val_loss {self.val_loss:.3f}, "
            f"perplexity {self.val_perplexity:.2f} (unigram {self.unigram_perplexity:.2f})"
        )


@dataclass(frozen=True)
class GateJudged:
    """The quality gate's verdict on the trained candidate (training/gate.py), before it is published."""

    kind: ClassVar[str] = "gate_judged"
    accepted: bool
    forced: bool
    reason: str
    candidate_perplexity: float | None
    live_perplexity: float | None
    live_version: int | None
    candidate_songs: dict
    live_songs: dict
    candidate_path: str | None  # where a refused candidate was kept

    def text(self) -> str:
        verdict = "forced through" if self.forced else "accepted" if self.accepted else "refused"
        return f"quality gate: {verdict}: {self.reason}"


Event = EpochStarted | EpochEnded | EarlyStopped | Exporting | GateJudged | Published
EVENTS: dict[str, type[Event]] = {
    e.kind: e for e in (EpochStarted, EpochEnded, EarlyStopped, Exporting, GateJudged, Published)
}


def to_line(event: Event) -> str:
    """One line of JSON: ``{"event": kind, field: value...}``."""
    return json.dumps({"event": event.kind, **asdict(event)})


def from_line(line: str) -> Event | None:
    """The event a line holds, or None for any other line (a person's line, or an unknown event)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
        kind = EVENTS[data.pop("event")]
        return kind(**{f.name: data[f.name] for f in fields(kind)})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class Reporter:
    """Where training sends its events: JSON lines for a program, or sentences for a person."""

    def __init__(self, json_lines: bool = False, write=print) -> None:
        self.json_lines, self._write = json_lines, write

    def __call__(self, event: Event) -> None:
        self._write(to_line(event) if self.json_lines else event.text(), flush=True)
