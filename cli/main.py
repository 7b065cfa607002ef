"""``bgm``: the one front door. ``train``, ``serve``, ``compose``, ``bot``, ``worker`` and ``models``:
thin argument parsing over the library; each subcommand imports its part lazily, so ``bgm --help``
loads no TensorFlow.

Settings come from the environment (``BGM_`` prefix) or ``.env``; an option given on the command line
wins. An option argparse itself refuses is one sentence on one line, exit status 2 (``cli.parsing``).
Dependencies' log noise is kept out of the output unless ``--verbose`` (see ``cli.quiet``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bgm.training_defaults import ARCHS, DEFAULTS
from cli.models import add_parser as add_models
from cli.parsing import OneLineParser, parse
from cli.quiet import quiet_environment, silenced_stderr

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _settings():
    from bgm.settings import Settings

    return Settings()


def _train(args: argparse.Namespace) -> int:
    with silenced_stderr(not args.verbose):  # TensorFlow's start-up lines
        from bgm.errors import BgmError
        from training.gate import GateRefused
        from training.train import TrainOptions, train

    settings = _settings()
    options = TrainOptions(
        data=tuple(args.data),
        with_default_corpus=args.with_default_corpus,
        models_dir=args.models or settings.models_dir,
        run_dir=args.run_dir,
        cache_dir=args.cache_dir,
        resume=args.resume,
        from_latest=args.from_version == "latest",
        add_meters=tuple(args.add_meters),
        arch=args.arch,
        units=args.units,
        window=args.window,
        epochs=args.epochs,
        batch_size=args.batch_size,
        samples_per_epoch=args.samples_per_epoch,
        patience=args.patience,
        seed=args.seed,
        learning_rate=args.learning_rate,
        lr_decay=args.lr_decay,
        corpus_share=args.corpus_share,
        workers=args.workers,
        json_progress=args.json_progress,
        force=args.force,
        gate_data=tuple(args.gate_data),
        keep_versions=settings.keep_versions,
    )
    try:
        train(options)
    except GateRefused as error:
        print(f"bgm train: {error}", file=sys.stderr)
        print(
            f"The live model is unchanged; the candidate is kept in {error.verdict.candidate_path} "
            f"(publish it anyway: bgm models publish {error.verdict.candidate_path}).",
            file=sys.stderr,
        )
        return 3
    except BgmError as error:  # TrainingError, or a models.config that cannot be read
        print(f"bgm train: {error}", file=sys.stderr)
        return 1
    return 0


def _meters(text: str) -> tuple[str, ...]:
    from bgm.meter import METERS

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if unknown := [m for m in names if m not in {meter.name for meter in METERS[1:]}]:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: the meters to add are 3/4 and 6/8")
    return names


def _add_train(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train the network and publish a new model version")
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
    p.add_argument("--models", type=Path, help="model base folder (default: BGM_MODELS_DIR or models)")
    p.add_argument(
        "--run-dir", type=Path, default=DEFAULTS.run_dir, help=f"checkpoints (default: {DEFAULTS.run_dir})"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULTS.cache_dir,
        help="parsed-token cache (default: ~/.cache/bgm/parsed)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint"
    )
    p.add_argument("--from", dest="from_version", choices=["latest"], help="fine-tune the live version")
    p.add_argument(
        "--add-meters",
        type=_meters,
        default=(),
        metavar="3/4,6/8",
        help="with --from latest: teach the live version these meters, on their pieces only; what it "
        "writes in the meters it knows stays exactly as it was",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        default=DEFAULTS.arch,
        help=f"lstm: causal, carries its state, much faster to compose with; blstm: the seed's network "
        f"(default: {DEFAULTS.arch}, as the shipped model)",
    )
    p.add_argument(
        "--units", type=int, default=DEFAULTS.units, help="LSTM units per direction (the seed: 512)"
    )
    p.add_argument("--window", type=int, default=DEFAULTS.window, help="tokens of context")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    p.add_argument(
        "--samples-per-epoch", type=int, default=DEFAULTS.samples_per_epoch, help="windows drawn per epoch"
    )
    p.add_argument(
        "--patience", type=int, default=DEFAULTS.patience, help="epochs without improvement before stopping"
    )
    p.add_argument(
        "--corpus-share", type=float, default=DEFAULTS.corpus_share, help="fraction of pieces to use (0..1]"
    )
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument(
        "--learning-rate", type=float, default=DEFAULTS.learning_rate, help="RMSprop's, at the first epoch"
    )
    p.add_argument(
        "--lr-decay",
        type=float,
        default=DEFAULTS.lr_decay,
        help=f"the learning rate's factor per epoch (default: {DEFAULTS.lr_decay}; 1 keeps it constant)",
    )
    p.add_argument("--workers", type=int, default=None, help="parsing processes (default: all cores)")
    p.add_argument(
        "--json-progress",
        action="store_true",
        help="progress as JSON lines (bgm.progress events) instead of sentences: for programs",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="publish even if the quality gate finds the new version worse than the live one",
    )
    p.add_argument(
        "--gate-data",
        nargs="+",
        type=Path,
        default=[],
        metavar="PATH",
        help="music the quality gate compares on (its validation split; default: the default corpus's)",
    )
    p.set_defaults(run=_train)


def _serve(args: argparse.Namespace) -> int:
    import logging

    with silenced_stderr(not args.verbose):  # TensorFlow's start-up lines
        from model_server import DEFAULT_BATCHING_CONFIG, serve

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    from model_server.server import folder_config

    if args.monitoring and args.rest_port is None:
        print(
            "bgm serve: --monitoring needs --rest-port (the metrics are served on the REST API)",
            file=sys.stderr,
        )
        return 2

    batching = None if args.no_batching else (args.batching_config or DEFAULT_BATCHING_CONFIG)
    models = args.models or _settings().models_dir
    config = args.model_config_file or folder_config(models)
    config_poll = args.model_config_file_poll_wait_seconds
    serve(
        models,
        host=args.host,
        port=args.port,
        batching_config=batching,
        poll_seconds=args.poll_seconds,
        model_config_file=config,
        config_poll_seconds=args.poll_seconds if config_poll is None else config_poll,
        rest_port=args.rest_port,
        monitoring=args.monitoring,
    )
    return 0


def _add_serve(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve", parents=[common], help="serve the models folder over TF Serving's gRPC API (embedded server)"
    )
    p.add_argument("--models", type=Path, help="folder of models (default: BGM_MODELS_DIR or models)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8500)
    p.add_argument("--batching-config", type=Path, help="TF Serving batching parameters file")
    p.add_argument("--no-batching", action="store_true", help="one TensorFlow call per request")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
    p.add_argument(
        "--rest-port", type=int, help="also serve TF Serving's REST API on this port (on --host; e.g. 8501)"
    )
    p.add_argument(
        "--monitoring",
        action="store_true",
        help="TF Serving's Prometheus metrics at /monitoring/prometheus/metrics on the REST port",
    )
    p.add_argument(
        "--model-config-file",
        type=Path,
        help="TF Serving model config: version policy and labels (default: <models>/models.config if there)",
    )
    p.add_argument(
        "--model-config-file-poll-wait-seconds",
        type=float,
        help="how often to re-read it (default: --poll-seconds; 0: only at start)",
    )
    p.set_defaults(run=_serve)


def _compose(args: argparse.Namespace) -> int:
    from cli.compose import compose

    return compose(args, _settings())


def _add_compose(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("compose", parents=[common], help="compose a song as MIDI and audio")
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
    p.add_argument(
        "--models",
        type=Path,
        help="models folder for the embedded server (default: BGM_MODELS_DIR or models)",
    )
    p.add_argument(
        "--label", help="version label to compose with (default: BGM_VERSION_LABEL or stable; '': the latest)"
    )
    p.add_argument("--format", choices=["ogg", "mp3", "wav"], default="ogg")
    p.add_argument(
        "--soundfont", type=Path, help="General MIDI SoundFont (default: BGM_SOUNDFONT or Debian's)"
    )
    p.add_argument(
        "--primer",
        type=Path,
        metavar="FILE",
        help="MIDI, MusicXML or ABC: the song opens with its first bars (up to 8) and the model goes on",
    )
    p.add_argument("--key", help='the song\'s key, e.g. "D minor", "F# major", "Bb" (default: the mood\'s)')
    p.add_argument("--meter", help="4/4, 3/4 (a waltz) or 6/8 (a jig) (default: the primer's, else 4/4)")
    p.add_argument("--lead", metavar="NAME", help="the melody's General MIDI instrument: a name or 1-128")
    p.add_argument(
        "--loop", action="store_true", help="audio that loops seamlessly: whole bars, tail folded in"
    )
    p.add_argument("--stems", action="store_true", help="also one audio file per part (melody, harmony, ...)")
    p.add_argument("--picture", action="store_true", help="also a PNG piano roll of the song")
    p.set_defaults(run=_compose)


def _bot(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot.app import run
    from bot.settings import BotSettings
    from cli.serving import model_server

    overrides = {"server": args.server} if args.server else {}
    if args.models:
        overrides["models_dir"] = args.models
    try:
        settings = (
            BotSettings(_env_file=args.env_file, **overrides) if args.env_file else BotSettings(**overrides)
        )
    except ValidationError as error:  # one line per bad setting, named as it is set: no traceback
        for problem in error.errors():
            name = "BGM_" + "_".join(map(str, problem["loc"])).upper()
            print(f"bgm bot: {name}: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    return run(
        settings,
        lambda: model_server(None, settings.models_dir, settings.model_name, quiet=not args.verbose),
    )


def _add_bot(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bot", parents=[common], help="run the Discord bot (token from DISCORD_TOKEN)")
    p.add_argument("--env-file", type=Path, help="settings file (default: .env in the working folder)")
    p.add_argument(
        "--server", help="HOST:PORT of TF Serving or bgm serve (default: BGM_SERVER, else an embedded server)"
    )
    p.add_argument("--models", type=Path, help="models folder (default: BGM_MODELS_DIR or models)")
    p.set_defaults(run=_bot)


def _worker(args: argparse.Namespace) -> int:
    import logging

    from bot.jobs.worker import run
    from bot.settings import BotSettings
    from cli.serving import model_server

    overrides = {"server": args.server} if args.server else {}
    if args.models:
        overrides["models_dir"] = args.models
    settings = (
        BotSettings(_env_file=args.env_file, **overrides) if args.env_file else BotSettings(**overrides)
    )
    if not settings.redis_url:
        print("bgm worker: set BGM_REDIS_URL (the queue the bots put songs in).", file=sys.stderr)
        return 2
    if not settings.discord_token.get_secret_value():
        print("bgm worker: set DISCORD_TOKEN (the worker posts the songs it makes).", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    quiet = not args.verbose
    with model_server(settings.server, settings.models_dir, settings.model_name, quiet=quiet) as target:
        return run(settings, target)


def _add_worker(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("worker", parents=[common], help="make the songs bots queued in Redis (BGM_REDIS_URL)")
    p.add_argument("--env-file", type=Path, help="settings file (default: .env in the working folder)")
    p.add_argument(
        "--server", help="HOST:PORT of TF Serving or bgm serve (default: BGM_SERVER, else an embedded server)"
    )
    p.add_argument("--models", type=Path, help="models folder (default: BGM_MODELS_DIR or models)")
    p.set_defaults(run=_worker)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="bgm",
        description="Background music for Discord, composed by an LSTM served over TF Serving's API.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show TensorFlow's, gRPC's and other libraries' logs",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub, common)
    _add_serve(sub, common)
    _add_compose(sub, common)
    _add_bot(sub, common)
    _add_worker(sub, common)
    add_models(sub, common, _settings)
    args = parse(parser, argv)
    if not args.verbose:
        quiet_environment()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
