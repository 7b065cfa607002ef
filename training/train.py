"""``bgm train``: files -> tokens -> moods -> vocabulary -> network -> published SavedModel version."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from bgm import melody
from bgm.meter import FOUR_FOUR, METERS, Meter, by_name
from bgm.moods import MOODS
from bgm.progress import Exporting, Published, Reporter
from bgm.training_defaults import DEFAULTS
from training import corpus, dataset, export, gate, publish
from training.loop import LoopConfig, RunState, fit
from training.model import ModelConfig, build, compile_model
from training.vocab import Vocabulary, frequent_tokens
from training.vocab import build as build_vocab


class TrainingError(Exception):
    """Training cannot go on; the message is one sentence for the user."""


@dataclass(frozen=True)
class TrainOptions:
    """One run of ``bgm train``; defaults from ``bgm.training_defaults`` (the shipped model's)."""

    data: tuple[Path, ...] = ()
    with_default_corpus: bool = False
    models_dir: Path = Path("models")
    model_name: str = "bgm"
    run_dir: Path = DEFAULTS.run_dir
    cache_dir: Path = DEFAULTS.cache_dir
    resume: bool = False
    from_latest: bool = False
    add_meters: tuple[str, ...] = ()  # with from_latest: teach the live version these meters only
    arch: str = DEFAULTS.arch
    units: int = DEFAULTS.units
    window: int = DEFAULTS.window
    embedding: int = DEFAULTS.embedding
    epochs: int = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    samples_per_epoch: int = DEFAULTS.samples_per_epoch
    patience: int = DEFAULTS.patience
    seed: int = DEFAULTS.seed
    min_count: int = DEFAULTS.min_count
    validation: float = DEFAULTS.validation
    learning_rate: float = DEFAULTS.learning_rate
    lr_decay: float = DEFAULTS.lr_decay
    corpus_share: float = DEFAULTS.corpus_share
    primers_per_mood: int = DEFAULTS.primers_per_mood
    workers: int | None = None
    progress: bool = True
    json_progress: bool = False  # progress as bgm.progress JSON lines (for the bot), not sentences
    force: bool = False  # publish even when the quality gate refuses (training/gate.py)
    gate_data: tuple[Path, ...] = ()  # the gate's reference music (default: the default corpus)
    keep_versions: int = 5  # retention after publishing: the newest N and every labelled version


@dataclass(frozen=True)
class TrainResult:
    version: int
    path: Path
    figures: dict = field(default_factory=dict)


def load_pieces(options: TrainOptions) -> list[dataset.Labelled]:
    paths = list(options.data)
    if options.with_default_corpus or not paths:
        paths += corpus.default_corpus_files()
    sources, skipped = corpus.collect(paths)
    pieces, unparsable = corpus.load(sources, options.cache_dir, options.workers, options.progress)
    skipped += unparsable
    for item in skipped:
        print(f"skipped {item.name}: {item.reason}")
    if not pieces:
        raise TrainingError(
            f"No usable music found: all {len(sources) + len(skipped) - len(unparsable)} files were skipped."
        )
    if options.corpus_share < 1.0:
        keep = np.random.default_rng(options.seed).permutation(len(pieces))[
            : max(1, int(len(pieces) * options.corpus_share))
        ]
        pieces = [pieces[i] for i in sorted(keep)]
    labelled = dataset.label(pieces)
    print(f"{len(pieces)} pieces from {len(sources)} files ({len(skipped)} skipped)")
    for mood, (n_pieces, n_tokens) in dataset.mood_summary(labelled).items():
        print(f"  {mood:8s} {n_pieces:6d} pieces {n_tokens:9,d} tokens")
    return labelled


def _grow(new: keras.Model, old: keras.Model) -> None:
    """Copy ``old``'s weights into ``new``, whose vocabulary is larger: new rows keep their fresh init."""
    for layer in new.layers:
        old_weights = old.get_layer(layer.name).get_weights() if layer.weights else []
        merged = []
        for fresh, previous in zip(layer.get_weights(), old_weights, strict=True):
            fresh[tuple(slice(0, n) for n in previous.shape)] = previous
            merged.append(fresh)
        if merged:
            layer.set_weights(merged)


def _with_meters(
    old: keras.Model, old_config: ModelConfig, meters: tuple[str, ...]
) -> tuple[keras.Model, ModelConfig]:
    """``old`` grown by ``meters``' ranges of the position input, everything else frozen: what it
    writes in its own meters stays exactly as it was. A new meter's positions start as those of the
    4/4 step with the same place in its beat and bar (3/4's last beat as 4/4's last, 6/8's second
    dotted beat as 4/4's third), so training starts from a network that already keeps some time."""
    if not old_config.melody_inputs:
        raise TrainingError("--add-meters needs a melody network (a version trained with position inputs).")
    if known := [m for m in meters if m in old_config.meters]:
        raise TrainingError(f"--add-meters: the live version already writes in {', '.join(known)}.")
    config = ModelConfig(
        **{**old_config.to_dict(), "meters": old_config.meters + tuple(dict.fromkeys(meters))}
    )
    model = build(config)
    _grow(model, old)
    table = model.get_layer("position_embedding")
    rows = table.get_weights()[0]
    for name in meters:
        meter = by_name(name)
        offset = melody.position_offset(meter)
        for step in range(meter.phrase):
            rows[offset + step] = rows[_like_four_four(meter, step)]
    table.set_weights([rows])
    for layer in model.layers:
        layer.trainable = layer.name == "position_embedding"
    return model, config


def _like_four_four(meter: Meter, step: int) -> int:
    """The 4/4 position with ``step``'s place in the phrase, bar and beat (``step`` of ``meter``'s phrase)."""
    bar, in_bar = divmod(step, meter.bar)
    beat, in_beat = divmod(in_bar, meter.beat)
    beats = meter.bar // meter.beat
    four_four_beat = 3 if beat == beats - 1 and beats == 3 else beat * 4 // beats
    return bar * FOUR_FOUR.bar + four_four_beat * 4 + in_beat * 4 // meter.beat


def meters_of(labelled: list[dataset.Labelled]) -> tuple[str, ...]:
    """What a new network learns: 4/4, and each other meter the training pieces are in."""
    return tuple(m.name for m in METERS if m == FOUR_FOUR or any(item.meter == m for item in labelled))


def _prepare(
    options: TrainOptions, labelled: list[dataset.Labelled]
) -> tuple[keras.Model, ModelConfig, Vocabulary, RunState]:
    run_dir = options.run_dir

    def streams(meters: tuple[str, ...]) -> list[tuple[str, ...]]:
        return [item.piece.tokens for item in dataset.in_meters(labelled, meters)]

    if options.resume:
        if not (run_dir / "state.json").exists():
            raise TrainingError(f"Nothing to resume in {run_dir}: no finished epoch was saved there.")
        vocab = Vocabulary.load(run_dir / "vocab.json")
        config = ModelConfig.from_dict(json.loads((run_dir / "model.json").read_text()))
        model = keras.saving.load_model(run_dir / "last.keras")
        return model, config, vocab, RunState.load(run_dir / "state.json")

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    if options.from_latest:
        live = publish.latest(options.models_dir / options.model_name)
        if live is None:
            raise TrainingError(
                f"--from latest: no published version in {options.models_dir / options.model_name}."
            )
        old, old_config, old_vocab = export.load_keras(live)
        if options.add_meters:
            model, config = _with_meters(old, old_config, options.add_meters)
            vocab = old_vocab
            print(f"teaching version {live.name} {', '.join(options.add_meters)}: only their positions learn")
        else:
            vocab = old_vocab.extended(frequent_tokens(streams(old_config.meters), options.min_count))
            config = ModelConfig(**{**old_config.to_dict(), "vocab_size": len(vocab)})
            model = build(config)
            _grow(model, old)
            print(f"fine-tuning version {live.name}: vocabulary {len(old_vocab)} -> {len(vocab)}")
    else:
        meters = meters_of(labelled)
        vocab = build_vocab(streams(meters), options.min_count)
        config = ModelConfig(
            len(vocab),
            len(MOODS),
            options.window,
            options.units,
            options.embedding,
            arch=options.arch,
            trained_steps=max(1, options.window * 3 // 4),  # the first bar or so only warms the state up
            meters=meters,
        )
        model = build(config)
    compile_model(model, options.learning_rate)
    vocab.save(run_dir / "vocab.json")
    (run_dir / "model.json").write_text(json.dumps(config.to_dict()))
    return model, config, vocab, RunState(draws=int(live.name) if options.from_latest else 0)


def _keep_positions(model: keras.Model, old: keras.Model, meters: tuple[str, ...]) -> None:
    """``old``'s rows of the position input for ``meters`` put back into ``model``, bit for bit."""
    rows = model.get_layer("position_embedding").get_weights()[0]
    kept = melody.position_values(meters)
    rows[:kept] = old.get_layer("position_embedding").get_weights()[0][:kept]
    model.get_layer("position_embedding").set_weights([rows])


def train(options: TrainOptions) -> TrainResult:
    """Train and publish a new version; on any failure ``models/`` is left exactly as it was."""
    if not (options.learning_rate > 0 and 0 < options.lr_decay <= 1):
        raise TrainingError("The learning rate must be above 0 and its decay in (0, 1].")
    if options.add_meters and not options.from_latest:
        raise TrainingError("--add-meters teaches the live version new meters: use it with --from latest.")
    keras.utils.set_random_seed(options.seed)
    labelled = load_pieces(options)
    model, config, vocab, state = _prepare(options, labelled)
    old_meters = tuple(m for m in config.meters if m not in options.add_meters)
    # Split each set of meters on its own: a 4/4 network keeps the split it has always had.
    train_part, val_part = dataset.split(
        dataset.in_meters(labelled, options.add_meters or config.meters), options.validation, options.seed
    )
    positions = config.positions  # that learn their next token
    train_w = dataset.windows(train_part, vocab, config.window, positions, config.lookback)
    val_w = dataset.windows(val_part, vocab, config.window, positions, config.lookback)
    if len(train_w) == 0 or len(val_w) == 0:
        raise TrainingError(
            f"Too little music to train on: pieces must be longer than {config.window} steps."
        )
    unigram = dataset.unigram_perplexity(train_w, val_w, len(vocab))
    print(
        f"vocabulary {len(vocab)} tokens; {len(train_w):,} training and {len(val_w):,} validation windows;"
        f" unigram perplexity {unigram:.2f}"
    )

    loop = LoopConfig(
        options.epochs,
        options.batch_size,
        options.samples_per_epoch,
        patience=options.patience,
        seed=options.seed,
        learning_rate=options.learning_rate,
        lr_decay=options.lr_decay,
    )
    started = time.perf_counter()
    report = Reporter(options.json_progress)
    state = fit(model, train_w, val_w, loop, options.run_dir, state, report)
    report(Exporting(state.best_epoch))
    model.load_weights(options.run_dir / "best.weights.h5")

    best = state.history[state.best_epoch - 1]
    figures = {
        "val_loss": best["val_loss"],
        "val_accuracy": best["val_accuracy"],
        "val_perplexity": best["val_perplexity"],
        "unigram_perplexity": unigram,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "train_seconds_this_run": round(time.perf_counter() - started, 1),
        "tokens_per_s": round(float(np.mean([h["tokens_per_s"] for h in state.history])), 1),
        "pieces": len(labelled),
        "moods": {m: n for m, (n, _) in dataset.mood_summary(labelled).items()},
        "config": config.to_dict(),
    }
    # Start windows from the training pieces in each meter; a fine-tune keeps the live version's for
    # a meter its music has none in.
    live = publish.latest(options.models_dir / options.model_name) if options.from_latest else None
    primers = export.published_primers(live) if live else {}
    for name in config.meters:
        if any(item.meter.name == name for item in train_part) or name not in primers:
            primers[name] = dataset.primers(
                train_part, vocab, config.window, options.primers_per_mood, options.seed, by_name(name)
            )
    if options.add_meters:
        # The old meters keep everything: their rows of the position input, their start windows, and
        # the gate compares the two versions on the live version's own validation pieces.
        _keep_positions(model, export.load_keras(live)[0], old_meters)
        val_part = dataset.split(dataset.in_meters(labelled, old_meters), options.validation, options.seed)[1]

    def write(path: Path) -> None:
        export.export(model, config, vocab, primers, figures, path)
        export.verify(path, model, config, vocab, primers)

    model_dir = options.models_dir / options.model_name
    try:
        version = gate.publish_if_better(options, model_dir, write, model, config, vocab, val_part, report)
    except OSError as error:
        if error.errno in publish.NO_SPACE:  # the partial export is gone; the live version never moved
            raise TrainingError(
                f"The disk is full: the new version could not be written to {model_dir}; free some space"
                " and train again."
            ) from error
        raise
    report(
        Published(version, str(model_dir / str(version)), best["val_loss"], best["val_perplexity"], unigram)
    )
    return TrainResult(version, model_dir / str(version), figures)
