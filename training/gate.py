"""The quality gate: a trained candidate goes live only if it is not worse than the live version.

Both are measured on the same reference pieces, the live model's held-out validation set (the
validation split of the default corpus, or ``--gate-data``'s when given): perplexity, and the song
figures of ``training.measure`` against the same pieces cut into parts. The candidate is published
when

- it has not collapsed: its sampled parts keep some pitch variety and do not fall silent (floors
  that one note repeated, or silence, cannot meet), and
- its perplexity on the reference is at most ``PERPLEXITY_TOLERANCE`` above the live version's and
  its songs are not further from the corpus (mean distance in corpus standard deviations) by more than
  ``SONG_TOLERANCE``; or, for a fine-tune (``--from latest``), it fits its own data better than the
  live version does and stays within ``FINETUNE_TOLERANCE`` on the reference.

Otherwise ``bgm train`` exits with status 3, says why in a line or two and leaves ``models/`` as it
was; the candidate is exported to ``<run dir>/candidate`` so an admin can publish it anyway
(``bgm models publish``), and ``--force`` publishes at once, saying so. A published version carries
the verdict in ``assets.extra/bgm/gate.json`` (``bgm models list`` shows it). Once published, the
version becomes ``stable`` in the folder's ``models.config`` (if it has one) and old versions are pruned.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from bgm.errors import BgmError
from bgm.progress import GateJudged
from lifecycle.actions import Lifecycle, LifecycleError
from lifecycle.versions import GATE_FILE
from training import corpus, dataset, export, measure, publish
from training.model import ModelConfig, compile_model
from training.vocab import Vocabulary

PERPLEXITY_TOLERANCE = 0.10  # the candidate may be up to 10% worse on the reference set
FINETUNE_TOLERANCE = 0.25  # ... 25% for a fine-tune that fits its own data better
SONG_TOLERANCE = 1.5  # its songs may be this many corpus standard deviations further off, on average
# A figure the reference barely varies on (a few pieces, none with an empty beat) still allows about
# what the default corpus varies by, so sampling noise alone does not refuse a candidate.
MIN_STD = {"pitch_class_entropy": 0.25, "scale_consistency": 0.05, "empty_beat_rate": 0.05}
MIN_ENTROPY = 1.0  # bits of pitch-class entropy a sampled part must keep (one note repeated: 0)
MAX_EMPTY = 0.5  # share of silent beats a sampled part may have
MAX_WINDOWS = 2000  # reference windows for perplexity
SONG_SEEDS = 4  # sampled parts per mood
SONG_STEPS = 128  # tokens per sampled part (8 bars)
CANDIDATE_DIR = "candidate"


class GateRefused(BgmError):
    """The candidate is worse than the live version; ``verdict`` holds the figures."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.summary())


@dataclass(frozen=True)
class Figures:
    perplexity: float
    songs: dict
    own_perplexity: float | None = None  # on the run's own validation pieces (fine-tunes)
    version: int | None = None  # the live version's number


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    candidate: Figures | None = None
    live: Figures | None = None
    corpus: dict = field(default_factory=dict)
    forced: bool = False
    candidate_path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One or two lines: the verdict, the reason, the figures."""
        verdict = "forced through" if self.forced else "accepted" if self.accepted else "refused"
        text = f"quality gate: {verdict}: {self.reason}"
        if self.candidate and self.live:
            c, live = self.candidate.songs, self.live.songs
            text += (
                f"\n  perplexity {self.candidate.perplexity:.2f} vs {self.live.perplexity:.2f} (version "
                f"{self.live.version}); songs: pitch-class entropy {c['pitch_class_entropy']:.2f} vs "
                f"{live['pitch_class_entropy']:.2f} bits, scale {c['scale_consistency']:.2f} vs "
                f"{live['scale_consistency']:.2f}, empty beats {c['empty_beat_rate']:.2f} vs "
                f"{live['empty_beat_rate']:.2f}"
            )
        return text

    def event(self) -> GateJudged:
        c, live = self.candidate, self.live
        return GateJudged(
            accepted=self.accepted,
            forced=self.forced,
            reason=self.reason,
            candidate_perplexity=c.perplexity if c else None,
            live_perplexity=live.perplexity if live else None,
            live_version=live.version if live else None,
            candidate_songs=c.songs if c else {},
            live_songs=live.songs if live else {},
            candidate_path=self.candidate_path,
        )


def _distance(songs: dict, corpus_figures: dict) -> float:
    """Mean |figure - corpus mean| / corpus std over the song figures (NaN figures count as far off)."""
    out = []
    for name, stats in corpus_figures.items():
        value, std = songs.get(name, math.nan), max(stats["std"], MIN_STD.get(name, 0.05))
        out.append(
            3.0 if math.isnan(value) or math.isnan(stats["mean"]) else abs(value - stats["mean"]) / std
        )
    return float(np.mean(out)) if out else 0.0


def decide(candidate: Figures, live: Figures, corpus_figures: dict, finetune: bool) -> tuple[bool, str]:
    """(accepted, why) by the rules in the module docstring."""
    songs = candidate.songs
    entropy, empty = songs.get("pitch_class_entropy", math.nan), songs.get("empty_beat_rate", math.nan)
    if not entropy >= MIN_ENTROPY:
        return (
            False,
            f"its songs collapse to few pitches (pitch-class entropy {entropy:.2f} bits < {MIN_ENTROPY})",
        )
    if not empty <= MAX_EMPTY:
        return False, f"its songs fall silent ({empty:.0%} of beats empty > {MAX_EMPTY:.0%})"
    ratio = candidate.perplexity / live.perplexity
    worse = f"{ratio - 1:+.0%}"
    far_c, far_l = _distance(songs, corpus_figures), _distance(live.songs, corpus_figures)
    if far_c > far_l + SONG_TOLERANCE:
        return False, (
            f"its songs are further from the corpus than version {live.version}'s ({far_c:.2f} vs "
            f"{far_l:.2f} standard deviations; tolerance +{SONG_TOLERANCE})"
        )
    if ratio <= 1 + PERPLEXITY_TOLERANCE:
        return (
            True,
            f"perplexity on the live model's validation set {worse} (tolerance +{PERPLEXITY_TOLERANCE:.0%})",
        )
    own_better = (
        finetune
        and candidate.own_perplexity is not None
        and live.own_perplexity is not None
        and candidate.own_perplexity < live.own_perplexity
    )
    if own_better and ratio <= 1 + FINETUNE_TOLERANCE:
        return True, (
            f"a fine-tune that fits its own music better (perplexity {candidate.own_perplexity:.2f} vs "
            f"{live.own_perplexity:.2f}) and stays within +{FINETUNE_TOLERANCE:.0%} on the live model's "
            f"validation set ({worse})"
        )
    return (
        False,
        f"perplexity on the live model's validation set {worse} (tolerance +{PERPLEXITY_TOLERANCE:.0%})",
    )


def reference_pieces(options, own_validation: list[dataset.Labelled]) -> list[dataset.Labelled]:
    """The live model's held-out pieces: the run's own when it trained on the default corpus alone."""
    if not options.gate_data and not options.data:
        return own_validation
    paths = list(options.gate_data) or corpus.default_corpus_files()
    sources, _ = corpus.collect(paths)
    pieces, _ = corpus.load(sources, options.cache_dir, options.workers, False)
    _, validation = dataset.split(dataset.label(pieces), options.validation, options.seed)
    return validation


def _measure(model, config: ModelConfig, vocab: Vocabulary, reference, own, starts, seed: int, version=None):
    return Figures(
        perplexity=measure.perplexity(model, config, vocab, reference, MAX_WINDOWS, seed),
        songs=measure.songs(model, config, vocab, starts, SONG_STEPS, seed).to_dict(),
        own_perplexity=measure.perplexity(model, config, vocab, own, MAX_WINDOWS, seed) if own else None,
        version=version,
    )


def judge(options, model: keras.Model, config: ModelConfig, vocab: Vocabulary, own_validation) -> Verdict:
    """The candidate ``model`` against the live version of ``options.models_dir``."""
    live_version = Lifecycle(options.models_dir, options.model_name).serving()
    if live_version is None:
        return Verdict(True, "no live version to compare with")
    try:
        live_model, live_config, live_vocab = export.load_keras(
            options.models_dir / options.model_name / str(live_version)
        )
    except (OSError, ValueError, KeyError) as error:
        return Verdict(False, f"live version {live_version} cannot be measured ({error})")
    compile_model(live_model)
    reference = reference_pieces(options, own_validation)
    window = max(config.window, live_config.window)
    starts = measure.primers(reference, window, SONG_SEEDS, options.seed)
    own = own_validation if options.from_latest else None
    candidate = _measure(model, config, vocab, reference, own, starts, options.seed)
    live = _measure(live_model, live_config, live_vocab, reference, own, starts, options.seed, live_version)
    corpus_figures = measure.corpus_songs(reference, SONG_STEPS, 500, options.seed)
    accepted, reason = decide(candidate, live, corpus_figures, options.from_latest)
    return Verdict(accepted, reason, candidate, live, corpus_figures)


def publish_if_better(
    options,
    model_dir: Path,
    write: Callable[[Path], None],
    model: keras.Model,
    config: ModelConfig,
    vocab: Vocabulary,
    own_validation: list[dataset.Labelled],
    report: Callable,
) -> int:
    """Judge, then publish (or keep the candidate in the run folder and raise ``GateRefused``)."""
    verdict = judge(options, model, config, vocab, own_validation)
    if not verdict.accepted and options.force:
        verdict = replace(verdict, forced=True)
    if not verdict.accepted and not verdict.forced:
        candidate = options.run_dir / CANDIDATE_DIR
        shutil.rmtree(candidate, ignore_errors=True)
        write(candidate)
        verdict = replace(verdict, candidate_path=str(candidate))
        record(candidate, verdict)
        report(verdict.event())
        raise GateRefused(verdict)
    report(verdict.event())
    print(verdict.summary(), flush=True)

    def write_with_verdict(path: Path) -> None:
        write(path)
        record(path, verdict)

    version = publish.publish(model_dir, write_with_verdict)
    go_live(options.models_dir, options.model_name, version, options.keep_versions)
    return version


def record(path: Path, verdict: Verdict) -> None:
    (path / GATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / GATE_FILE).write_text(json.dumps(verdict.to_dict(), indent=1))


def go_live(models_dir: Path, model: str, version: int, keep: int) -> None:
    lifecycle = Lifecycle(models_dir, model, keep)
    try:
        change, removed = lifecycle.go_live(version)
    except LifecycleError as error:  # published all the same: say why it is not labelled
        print(f"version {version} is published but not labelled stable: {error}", file=sys.stderr, flush=True)
        return
    if change is not None:
        print(f"{lifecycle.config_path}: {change.text()}", flush=True)
    if removed:
        print(
            f"removed old versions {', '.join(map(str, removed))} (keeping {keep} and the labelled)",
            flush=True,
        )
