"""``bgm models list|promote|rollback|publish|prune``: the versions in a models folder and their labels.

Thin: ``lifecycle`` does the work. With a model server (``--server`` or ``BGM_SERVER``) the commands
also say what it has loaded, refuse to promote a version it failed to load, and wait until it serves
the new label; without one, servers reading the folder's ``models.config`` apply a change at their
next poll of the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bgm.settings import Settings

WAIT_S = 60.0


class _Server:
    """The few TF Serving calls the commands make, synchronously, through the composer's protos."""

    def __init__(self, target: str, model: str) -> None:
        import grpc

        from composer import wire

        self.target, self.model, self._wire = target, model, wire
        self._channel = grpc.insecure_channel(target)
        self._predict = wire.prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = wire.model_service_pb2_grpc.ModelServiceStub(self._channel)

    def states(self) -> dict[int, tuple[str, str]] | None:
        """version -> (state, error message); None when the server does not answer."""
        import grpc

        request = self._wire.get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model
        try:
            reply = self._models.GetModelStatus(request, timeout=5)
        except grpc.RpcError:
            return None
        names = self._wire.get_model_status_pb2.ModelVersionStatus.State
        return {s.version: (names.Name(s.state), s.status.error_message) for s in reply.model_version_status}

    def failed(self) -> dict[int, str]:
        return {v: why or "it failed to load" for v, (state, why) in (self.states() or {}).items() if why}

    def served_by(self, label: str) -> int | None:
        """The version the server answers ``label`` with (None: unknown label or no answer)."""
        import grpc
        import numpy as np

        from bgm import contract

        request = self._wire.predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.version_label = label
        request.model_spec.signature_name = contract.METADATA_SIGNATURE
        request.inputs[contract.DUMMY].CopyFrom(self._wire.to_proto(np.zeros([1], np.int32)))
        request.output_filter.append(contract.WINDOW)
        try:
            return self._predict.Predict(request, timeout=10).model_spec.version.value
        except grpc.RpcError:
            return None

    def close(self) -> None:
        self._channel.close()


def _lifecycle(args: argparse.Namespace, settings: Settings):
    from lifecycle.actions import Lifecycle

    keep = getattr(args, "keep", None) or settings.keep_versions
    return Lifecycle(args.models or settings.models_dir, settings.model_name, keep)


def _server(args: argparse.Namespace, settings: Settings) -> _Server | None:
    target = args.server or settings.server
    return _Server(target, settings.model_name) if target else None


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _gate_text(gate: dict) -> str:
    if not gate:
        return "—"
    verdict = "forced" if gate.get("forced") else ("accepted" if gate.get("accepted") else "refused")
    ppl = gate.get("candidate", {}).get("perplexity")
    live = gate.get("live", {}).get("perplexity")
    return f"{verdict} (ppl {ppl:.2f} vs {live:.2f})" if ppl and live else verdict


def list_versions(args: argparse.Namespace, settings: Settings) -> int:
    lifecycle = _lifecycle(args, settings)
    server = _server(args, settings)
    states = server.states() if server else None
    versions = lifecycle.versions()
    if args.json:
        rows = [v.to_dict() | ({"server": states.get(v.version)} if states else {}) for v in versions]
        print(json.dumps({"versions": rows, "problems": lifecycle.problems()}, indent=1))
        return 0
    if not versions:
        print(f"no versions in {lifecycle.model_dir}")
    header = ["version", "labels", "created", "size", "network", "val ppl", "gate"] + (
        ["server"] if states else []
    )
    rows = [header]
    for v in versions:
        ppl = v.figures.get("val_perplexity")
        row = [
            str(v.version),
            ", ".join(v.labels) or "—",
            datetime.fromtimestamp(v.created).strftime("%Y-%m-%d %H:%M") if v.created else "?",
            _mb(v.size_bytes),
            v.network,
            f"{ppl:.2f}" if isinstance(ppl, int | float) else "—",
            _gate_text(v.gate),
        ]
        if states:
            state, why = states.get(v.version, ("not loaded", ""))
            row.append(f"{state}: {why[:80]}" if why else state)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if server and states is None:
        print(f"(the model server at {server.target} did not answer)")
    for problem in lifecycle.problems():
        print(f"problem: {problem}", file=sys.stderr)
    return 0


def _apply(args: argparse.Namespace, settings: Settings, change_labels) -> int:
    from lifecycle.actions import LifecycleError

    lifecycle = _lifecycle(args, settings)
    server = _server(args, settings)
    try:
        change = change_labels(lifecycle, server.failed() if server else {})
    except LifecycleError as error:
        print(f"bgm models: {error}", file=sys.stderr)
        return 1
    print(f"{lifecycle.config_path}: {change.text()}")
    label = getattr(args, "label", None) or "stable"
    wanted = change.after.get(label)
    if not change.changed or wanted is None:
        return 0
    if server is None:
        print("Servers reading it apply the change at their next poll of the file.")
        return 0
    give_up = time.monotonic() + args.wait
    while (served := server.served_by(label)) != wanted and time.monotonic() < give_up:
        time.sleep(0.5)
    if served == wanted:
        print(f"{server.target} now answers {label} with version {wanted}.")
        return 0
    print(
        f"{server.target} still answers {label} with version {served} after {args.wait:g} s; it applies "
        f"the change once it has loaded version {wanted}.",
        file=sys.stderr,
    )
    return 0


def promote(args: argparse.Namespace, settings: Settings) -> int:
    return _apply(
        args, settings, lambda lifecycle, failed: lifecycle.promote(args.version, args.label, failed)
    )


def rollback(args: argparse.Namespace, settings: Settings) -> int:
    return _apply(args, settings, lambda lifecycle, failed: lifecycle.rollback(failed))


def prune(args: argparse.Namespace, settings: Settings) -> int:
    from lifecycle.actions import LifecycleError

    lifecycle = _lifecycle(args, settings)
    try:
        removed = lifecycle.prune()
    except LifecycleError as error:
        print(f"bgm models: {error}", file=sys.stderr)
        return 1
    kept = f"the newest {lifecycle.keep} and every labelled one"
    print(
        f"removed versions {', '.join(map(str, removed))}; kept {kept}"
        if removed
        else f"nothing to remove ({kept} kept)"
    )
    return 0


def publish_candidate(args: argparse.Namespace, settings: Settings) -> int:
    """Publish a version the quality gate refused (``bgm train`` kept it in its run folder)."""
    import shutil

    from lifecycle.actions import LifecycleError
    from lifecycle.versions import GATE_FILE
    from training.publish import publish

    source = args.path
    if not (source / "saved_model.pb").is_file():
        print(f"bgm models: {source} holds no SavedModel (saved_model.pb)", file=sys.stderr)
        return 1
    lifecycle = _lifecycle(args, settings)

    def copy(tmp: Path) -> None:
        shutil.copytree(source, tmp)
        gate = tmp / GATE_FILE
        if gate.is_file():  # say in the version itself that it went live against the gate's verdict
            verdict = json.loads(gate.read_text())
            gate.write_text(json.dumps({**verdict, "forced": True}, indent=1))

    version = publish(lifecycle.model_dir, copy)
    print(f"published {source} as {lifecycle.model_dir / str(version)}")
    try:
        change, removed = lifecycle.go_live(version)
    except LifecycleError as error:
        print(f"bgm models: {error}", file=sys.stderr)
        return 1
    if change is not None:
        print(f"{lifecycle.config_path}: {change.text()}")
    if removed:
        print(f"removed old versions {', '.join(map(str, removed))}")
    return 0


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, settings) -> None:
    p = sub.add_parser("models", parents=[common], help="list the model versions, promote or roll back one")
    commands = p.add_subparsers(dest="models_command", required=True)
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--models", type=Path, help="models folder (default: BGM_MODELS_DIR or models)")
    shared.add_argument(
        "--server", help="HOST:PORT of the model server to check with (default: BGM_SERVER; none: do not ask)"
    )
    listing = commands.add_parser("list", parents=[common, shared], help="versions, labels, sizes, figures")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(run=lambda args: list_versions(args, settings()))
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--wait",
        type=float,
        default=WAIT_S,
        help=f"seconds to wait for --server to apply it (default {WAIT_S:g})",
    )
    promoting = commands.add_parser(
        "promote", parents=[common, shared, waiting], help="label version N stable (the old stable: previous)"
    )
    promoting.add_argument("version", type=int)
    promoting.add_argument("--label", choices=["stable", "canary"], default="stable")
    promoting.set_defaults(run=lambda args: promote(args, settings()))
    rolling = commands.add_parser(
        "rollback", parents=[common, shared, waiting], help="stable back to the previous stable version"
    )
    rolling.set_defaults(run=lambda args: rollback(args, settings()))
    publishing = commands.add_parser(
        "publish",
        parents=[common, shared],
        help="publish a candidate the quality gate refused, and make it stable",
    )
    publishing.add_argument(
        "path", type=Path, help="the exported candidate (bgm train says where: runs/.../candidate)"
    )
    publishing.set_defaults(run=lambda args: publish_candidate(args, settings()))
    pruning = commands.add_parser("prune", parents=[common, shared], help="remove old unlabelled versions")
    pruning.add_argument("--keep", type=int, help="newest versions to keep (default: BGM_KEEP_VERSIONS or 5)")
    pruning.set_defaults(run=lambda args: prune(args, settings()))
