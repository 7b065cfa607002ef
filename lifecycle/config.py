"""``models.config``: TF Serving's ``--model_config_file``, kept in the models folder it describes.

The file is a ``ModelServerConfig`` in protobuf text format, read with TF Serving's own message
(``tensorflow_serving.config``, plain protobuf: no TensorFlow is loaded). Each model's
``version_labels`` name versions (``stable``, ``canary``, ``previous``); clients ask for a label with
``model_spec.version_label``. TF Serving re-reads the file every
``--model_config_file_poll_wait_seconds`` and so does the embedded server.

It lives in the models folder (``models/models.config``), not beside the code, so that whoever may
publish a version there (``bgm train``, the bot, the trainer container) may also label it, and a
command run on another models folder (a test's, a user's) never rewrites the live one.

Writes are atomic (a temporary file renamed over the old one: a server polling the file reads the
old config or the new one, never half of each) and serialised by a lock file, so the bot and a
command line changing labels at once cannot lose one another's change. A config that does not
parse, names a model twice or labels a version that is not in the folder is refused before it is
written (``ConfigError``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from bgm.errors import BgmError

CONFIG_NAME = "models.config"
STABLE, CANARY, PREVIOUS = "stable", "canary", "previous"
HEADER = (
    "# TF Serving's --model_config_file for this models folder, re-read while serving.\n"
    "# Written by `bgm models promote|rollback` and `bgm train`; `bgm models list` shows it.\n"
    "# Every version folder is served (policy `all`, bounded by retention); clients ask for a label.\n"
)


class ConfigError(BgmError):
    """The config cannot be read or would be wrong; the message says where and why."""


@dataclass(frozen=True)
class Policy:
    """TF Serving's ``model_version_policy``: which version folders a server loads."""

    kind: str = "latest"  # latest | all | specific (TF Serving's default is latest, one version)
    num_versions: int = 1  # latest
    versions: tuple[int, ...] = ()  # specific


@dataclass(frozen=True)
class ModelEntry:
    name: str
    base_path: str
    policy: Policy = Policy()
    labels: dict[str, int] = field(default_factory=dict)


def config_path(models_dir: Path) -> Path:
    return Path(models_dir) / CONFIG_NAME


def parse(text: str) -> dict[str, ModelEntry]:
    """The models a config names, by name; ``ConfigError`` when it is not a valid model config list."""
    message = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ConfigError(f"{CONFIG_NAME} does not parse: {error}") from None
    if message.WhichOneof("config") not in (None, "model_config_list"):
        raise ConfigError(f"{CONFIG_NAME} must hold a model_config_list")
    models: dict[str, ModelEntry] = {}
    for entry in message.model_config_list.config:
        if not entry.name:
            raise ConfigError(f"{CONFIG_NAME} has a model without a name")
        if entry.name in models:  # TF Serving's ValidateModelConfigList
            raise ConfigError(f"Illegal to list model {entry.name} multiple times in config list")
        labels = dict(entry.version_labels)
        if bad := sorted(label for label, version in labels.items() if version <= 0):
            raise ConfigError(f"{CONFIG_NAME}: label {bad[0]} of model {entry.name} is not a version number")
        models[entry.name] = ModelEntry(entry.name, entry.base_path, _policy(entry), labels)
    return models


def _policy(entry) -> Policy:
    policy = entry.model_version_policy
    match policy.WhichOneof("policy_choice"):
        case "all":
            return Policy("all")
        case "specific":
            return Policy("specific", versions=tuple(sorted(policy.specific.versions)))
        case "latest":
            return Policy("latest", num_versions=max(1, policy.latest.num_versions))
    return Policy()


def render(models: dict[str, ModelEntry]) -> str:
    """The text of a config holding ``models`` (what ``parse`` reads back)."""
    message = model_server_config_pb2.ModelServerConfig()
    config_list = message.model_config_list
    config_list.SetInParent()
    for model in models.values():
        entry = config_list.config.add(
            name=model.name, base_path=model.base_path, model_platform="tensorflow"
        )
        policy = entry.model_version_policy
        if model.policy.kind == "all":
            policy.all.SetInParent()
        elif model.policy.kind == "specific":
            policy.specific.versions.extend(model.policy.versions)
        else:
            policy.latest.num_versions = model.policy.num_versions
        for label, version in sorted(model.labels.items()):
            entry.version_labels[label] = version
    return HEADER + text_format.MessageToString(message)


def read(path: Path) -> dict[str, ModelEntry] | None:
    """The config at ``path``; None when there is none (a folder served by its latest version)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    return parse(text)


def version_folders(model_dir: Path) -> set[int]:
    """Version numbers with a folder in ``model_dir`` (what a server could load)."""
    try:
        return {int(p.name) for p in Path(model_dir).iterdir() if p.name.isdigit() and p.is_dir()}
    except OSError:
        return set()


def problems(models: dict[str, ModelEntry], models_dir: Path) -> list[str]:
    """What is wrong with a parsed config for this models folder: labels of versions not there."""
    found = []
    for model in models.values():
        present = version_folders(Path(models_dir) / model.name)
        for label, version in sorted(model.labels.items()):
            if version not in present:
                found.append(
                    f"label {label} of model {model.name} points at version {version}, "
                    f"which is not in {Path(models_dir) / model.name}"
                )
    return found


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the config's lock file (read-modify-write by one writer at a time, across processes)."""
    lock = Path(path).with_name(f".{Path(path).name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write(path: Path, models: dict[str, ModelEntry]) -> None:
    """Check ``models`` against the folder, then replace the file atomically; ``ConfigError`` if wrong."""
    path = Path(path)
    if found := problems(models, path.parent):
        raise ConfigError(f"Refusing to write {path}: {found[0]}.")
    text = render(models)
    parse(text)  # what we write must read back
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
