"""The training loop: one ``fit`` call per epoch, a checkpoint after each.

A run folder holds everything needed to continue exactly where a run stopped:
the full model with its optimizer state (``last.keras``), the best weights so
far, and ``state.json`` (epochs done, early-stopping counters, history). The
windows of epoch *e* are drawn from a generator seeded with (seed, e), so a
resumed run sees the same data it would have seen without the interruption.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from training.dataset import Windows, epoch_rows


@dataclass(frozen=True)
class LoopConfig:
    epochs: int = 10
    batch_size: int = 256
    samples_per_epoch: int = 400_000
    max_val_windows: int = 20_000
    patience: int = 2
    seed: int = 0


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
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
    model: keras.Model, train: Windows, val: Windows, config: LoopConfig, run_dir: Path, state: RunState
) -> RunState:
    """Train from ``state.epoch`` on, checkpointing into ``run_dir``; returns the final state."""
    x_val, y_val = fixed_validation(val, config.max_val_windows, config.seed)
    while state.epoch < config.epochs and state.wait < config.patience:
        epoch = state.epoch
        rows = epoch_rows(train, config.samples_per_epoch, np.random.default_rng([config.seed, epoch]))
        x, y = train.batch(rows)
        print(f"epoch {epoch + 1}/{config.epochs}: {len(rows):,} windows", flush=True)
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
        print(
            "  loss {loss:.3f}  acc {accuracy:.3f}  val_loss {val_loss:.3f}  val_acc {val_accuracy:.3f}"
            "  val_ppl {val_perplexity:.2f}  {tokens_per_s:,.0f} tokens/s".format(**record),
            flush=True,
        )
        state.history.append(record)
        state.epoch = epoch + 1
        if val_loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.wait = float(val_loss), epoch + 1, 0
            _replace(run_dir / "tmp-best.weights.h5", run_dir / "best.weights.h5", model.save_weights)
        else:
            state.wait += 1
        _save_model(model, run_dir / "last.keras")
        state.save(run_dir / "state.json")  # last: a crash before this repeats the epoch, never skips it
    if state.wait >= config.patience:
        print(f"early stop: no better validation loss for {config.patience} epochs", flush=True)
    return state
