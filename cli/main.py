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
        arch=args.arch,
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
    p.add_argument(
        "--arch",
        choices=["blstm", "lstm"],
        default="blstm",
        help="blstm: the seed's network; lstm: causal, carries its state, much faster to generate with",
    )
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


def _serve(args: argparse.Namespace) -> int:
    import logging

    from model_server import DEFAULT_BATCHING_CONFIG, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    batching = None if args.no_batching else (args.batching_config or DEFAULT_BATCHING_CONFIG)
    serve(
        args.models, host=args.host, port=args.port, batching_config=batching, poll_seconds=args.poll_seconds
    )
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the models folder over TF Serving's gRPC API (embedded server)")
    p.add_argument("--models", type=Path, default=Path("models"), help="folder of models (default: models)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--batching-config", type=Path, help="TF Serving batching parameters file")
    p.add_argument("--no-batching", action="store_true", help="one TensorFlow call per request")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
    p.set_defaults(run=_serve)


def _compose(args: argparse.Namespace) -> int:
    from bgm.settings import Settings
    from cli.compose import compose

    settings = Settings()
    return compose(args, settings)


def _add_compose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help="compose a song as MIDI and audio")
    p.add_argument("--mood", required=True, help="calm, happy, sad, epic, tense or playful (the model says)")
    p.add_argument("--length", choices=["short", "medium", "long"], default="medium")
    p.add_argument("--seed", type=int, help="reproduce a song (same seed, same model version)")
    p.add_argument("--variation", type=int, default=0, help="same seed and form, new sampling")
    p.add_argument("--tempo", type=int, help="beats per minute (default: the mood's)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the mood's)")
    p.add_argument("--top-p", type=float, help="nucleus size (default: the mood's)")
    p.add_argument("--out", type=Path, help="output folder (default: BGM_OUT_DIR or out)")
    p.add_argument(
        "--server",
        help="HOST:PORT of TF Serving or bgm serve (default: BGM_SERVER, "
        "else an embedded server on --models for this command)",
    )
    p.add_argument("--models", type=Path, help="models folder for the embedded server (default: models)")
    p.add_argument("--format", choices=["ogg", "mp3", "wav"], default="ogg")
    p.add_argument(
        "--soundfont", type=Path, help="General MIDI SoundFont (default: BGM_SOUNDFONT or Debian's)"
    )
    p.set_defaults(run=_compose)


def _bot(args: argparse.Namespace) -> int:
    from bot.app import run
    from bot.settings import BotSettings

    overrides = {"server": args.server} if args.server else {}
    if args.models:
        overrides["models_dir"] = args.models
    if args.env_file:
        return run(BotSettings(_env_file=args.env_file, **overrides))
    return run(BotSettings(**overrides))


def _add_bot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bot", help="run the Discord bot (token from DISCORD_TOKEN)")
    p.add_argument("--env-file", type=Path, help="settings file (default: .env in the working folder)")
    p.add_argument(
        "--server", help="HOST:PORT of TF Serving or bgm serve (default: BGM_SERVER, else an embedded server)"
    )
    p.add_argument("--models", type=Path, help="models folder (default: BGM_MODELS_DIR or models)")
    p.set_defaults(run=_bot)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bgm", description="Background music composed by a BLSTM.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_serve(sub)
    _add_compose(sub)
    _add_bot(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
