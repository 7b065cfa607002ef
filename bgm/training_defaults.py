"""Training's defaults, in one place: ``bgm train``'s options, ``TrainOptions`` and the loop read them.

They describe the shipped default model (models/bgm/5: the causal melody LSTM, 256 units, window 64,
1.35 M windows in all with a falling learning rate).
Here rather than in ``training`` so that ``bgm --help`` shows them without importing TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ARCHS = ("lstm", "blstm")  # lstm: causal, carries its state (fast to compose with); blstm: the seed's


@dataclass(frozen=True)
class TrainingDefaults:
    arch: str = "lstm"
    units: int = 256  # LSTM units (per direction for the BLSTM); the seed used 512
    window: int = 64  # tokens of context (4 bars)
    embedding: int = 64
    epochs: int = 9
    batch_size: int = 256
    samples_per_epoch: int = 150_000  # windows drawn per epoch
    max_val_windows: int = 20_000
    patience: int = 2  # epochs without a better validation loss before stopping
    seed: int = 0
    min_count: int = 3  # tokens seen fewer times fold into their top note
    validation: float = 0.1  # share of the pieces held out
    learning_rate: float = 1e-3
    lr_decay: float = 0.8  # the learning rate's factor per epoch (1: constant): 1e-3 down to 1.7e-4
    corpus_share: float = 1.0
    primers_per_mood: int = 16
    run_dir: Path = Path("runs/train")
    cache_dir: Path = Path.home() / ".cache" / "bgm" / "parsed"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")


DEFAULTS = TrainingDefaults()
