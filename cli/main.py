"""``bgm``: thin argument parsing over the library; each subcommand imports its part lazily."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from training.train import TrainingError, TrainOptions, train

    options = TrainOptions(
        data=tuple(args.data),
        with_default_corpus=args.with_default_corpus,
        models_dir=args.models,
        run_dir=args.run_dir,
        cache_dir=args.cache_dir,
        resume=args.resume,
        from_latest=args.from_version == "latest",
        units=args.units,
        window=args.window,
        epochs=args.epochs,
        batch_size=args.batch_size,
        samples_per_epoch=args.samples_per_epoch,
        patience=args.patience,
        seed=args.seed,
        corpus_share=args.corpus_share,
        workers=args.workers,
    )
    try:
        train(options)
    except TrainingError as error:
        print(f"bgm train: {error}", file=sys.stderr)
        return 1
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the BLSTM and publish a new model version")
    p.add_argument(
        "--data",
        nargs="+",
        type=Path,
        default=[],
        metavar="PATH",
        help="folders, music files (.mid .midi .mxl .musicxml .xml .abc .krn) or .zip archives; "
        "default: the music21 corpus",
    )
    p.add_argument(
        "--with-default-corpus", action="store_true", help="train on --data and the default corpus"
    )
    p.add_argument("--models", type=Path, default=Path("models"), help="model base folder (default: models)")
    p.add_argument(
        "--run-dir", type=Path, default=Path("runs/train"), help="checkpoints (default: runs/train)"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache/bgm/parsed",
        help="parsed-token cache (default: ~/.cache/bgm/parsed)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint"
    )
    p.add_argument("--from", dest="from_version", choices=["latest"], help="fine-tune the live version")
    p.add_argument("--units", type=int, default=128, help="LSTM units per direction (the seed: 512)")
    p.add_argument("--window", type=int, default=32, help="tokens of context (default: 32)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--samples-per-epoch", type=int, default=400_000, help="windows drawn per epoch")
    p.add_argument("--patience", type=int, default=2, help="epochs without improvement before stopping")
    p.add_argument("--corpus-share", type=float, default=1.0, help="fraction of pieces to use (0..1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="parsing processes (default: all cores)")
    p.set_defaults(run=_train)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bgm", description="Background music composed by a BLSTM.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
