"""The training loop: one ``fit`` call per epoch, a checkpoint after each.

A run folder holds everything needed to continue exactly where a run stopped:
the full model with its optimizer state (``last.keras``), the best weights so
far, and ``state.json`` (epochs done, early-stopping counters, history). The
windows of epoch *e* are drawn from a generator seeded with (seed, e), so a
resumed run sees the same data it would have seen without the interruption; a
fine-tuning run adds the live version's number to that seed, so it draws
windows other than the ones its starting point was trained on. Epoch *e* of a
run learns at ``learning_rate * lr_decay**e``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from bgm.progress import EarlyStopped, EpochEnded, EpochStarted, Event, Reporter
from bgm.training_defaults import DEFAULTS
from training.dataset import Windows, epoch_rows


@dataclass(frozen=True)
class LoopConfig:
    epochs: int = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    samples_per_epoch: int = DEFAULTS.samples_per_epoch
    max_val_windows: int = DEFAULTS.max_val_windows
    patience: int = DEFAULTS.patience
    seed: int = DEFAULTS.seed
    learning_rate: float = DEFAULTS.learning_rate
    lr_decay: float = DEFAULTS.lr_decay  # factor per epoch of the run


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    draws: int = 0  # added to the seed of each epoch's windows: the live version when fine-tuning
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    wait: int = 0
    history: list[dict] = field(default_factory=list)

    def save(self, path: Path) -> None:
        _atomic_write(path, json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls(**json.loads(path.read_text()))


def _replace(tmp: Path, path: Path, write) -> None:
    """``write(tmp)`` then rename it to ``path``: a checkpoint is whole or absent, never half-written;
    on failure (a full disk) the partial ``tmp`` is removed, not left to fill the disk further."""
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write(path: Path, text: str) -> None:
    _replace(path.with_name(path.name + ".tmp"), path, lambda tmp: tmp.write_text(text))


def _save_model(model: keras.Model, path: Path) -> None:
    _replace(path.with_name("tmp-" + path.name), path, model.save)  # keras insists on the suffix


def fixed_validation(val: Windows, limit: int, seed: int) -> tuple[dict, np.ndarray]:
    rows = np.random.default_rng(seed).permutation(len(val))[:limit]
    return val.batch(np.sort(rows))


def fit(
    model: keras.Model,
    train: Windows,
    val: Windows,
    config: LoopConfig,
    run_dir: Path,
    state: RunState,
    report: Callable[[Event], None] | None = None,
) -> RunState:
    """Train from ``state.epoch`` on, checkpointing into ``run_dir``; returns the final state.

    Each epoch's start and end go to ``report`` as ``bgm.progress`` events (default: printed as text).
    """
    report = report or Reporter()
    x_val, y_val = fixed_validation(val, config.max_val_windows, config.seed)
    while state.epoch < config.epochs and state.wait < config.patience:
        epoch = state.epoch
        draw = [config.seed, epoch, state.draws] if state.draws else [config.seed, epoch]
        rows = epoch_rows(train, config.samples_per_epoch, np.random.default_rng(draw))
        learning_rate = config.learning_rate * config.lr_decay**epoch
        model.optimizer.learning_rate.assign(learning_rate)
        x, y = train.batch(rows)
        report(EpochStarted(epoch + 1, config.epochs, len(rows)))
        started = time.perf_counter()
        result = model.fit(
            x,
            y,
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=True,
            verbose=1 if sys.stdout.isatty() else 2,
        )
        seconds = time.perf_counter() - started
        val_loss, val_acc = model.evaluate(x_val, y_val, batch_size=1024, verbose=0)
        record = {
            "epoch": epoch + 1,
            "loss": float(result.history["loss"][-1]),
            "accuracy": float(result.history["accuracy"][-1]),
            "val_loss": float(val_loss),
            "val_accuracy": float(val_acc),
            "val_perplexity": float(np.exp(val_loss)),
            "tokens_per_s": len(rows) / seconds,
        }
        report(EpochEnded(epochs=config.epochs, **record))
        state.history.append({**record, "learning_rate": learning_rate})
        state.epoch = epoch + 1
        if val_loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.wait = float(val_loss), epoch + 1, 0
            _replace(run_dir / "tmp-best.weights.h5", run_dir / "best.weights.h5", model.save_weights)
        else:
            state.wait += 1
        _save_model(model, run_dir / "last.keras")
        state.save(run_dir / "state.json")  # last: a crash before this repeats the epoch, never skips it
    if state.wait >= config.patience:
        report(EarlyStopped(state.epoch, config.patience))
    return state
