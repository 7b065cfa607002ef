"""Promote, roll back and prune: each one locked read-modify-write of ``models.config``.

Labels, as TF Serving's ``version_labels``:
- ``stable``: what the bot composes with (the composer asks for it);
- ``canary``: a version being tried by whoever asks for it by name, never by the bot;
- ``previous``: the stable version before the last promotion, where ``rollback`` goes.

Every version folder is loaded (policy ``all``), so a label can move to any version a server has
loaded without a second step, and a song started on the old stable version finishes on it (its
client pinned the version number). Moving a label to a version a server has not loaded yet is
refused by that server (TF Serving: FAILED_PRECONDITION) and retried at its next poll of the file,
so a promotion right after a publish takes effect once the new version is loaded.

Retention keeps the newest ``keep`` versions and every labelled one; an older folder is moved out of
the model's folder in one rename (servers unload it, after its in-flight requests) and then deleted.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bgm.errors import BgmError
from lifecycle.config import (
    CANARY,
    PREVIOUS,
    STABLE,
    ConfigError,
    ModelEntry,
    Policy,
    config_path,
    locked,
    problems,
    read,
    version_folders,
    write,
)
from lifecycle.versions import VersionInfo, describe

LABELS = (STABLE, CANARY)  # what promote may set; PREVIOUS follows stable by itself
TMP_PREFIX = ".tmp-"  # training/publish.py sweeps .tmp-<pid>-* folders of dead processes


class LifecycleError(BgmError):
    """A promotion, rollback or prune that cannot be done; the message says why."""


@dataclass(frozen=True)
class Change:
    """Labels before and after one change of the config."""

    model: str
    before: dict[str, int]
    after: dict[str, int]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def text(self) -> str:
        """``stable 2 → 3, previous → 2`` (or that nothing changed)."""
        if not self.changed:
            stable = self.after.get(STABLE)
            return f"nothing to change (stable is version {stable})" if stable else "nothing to change"
        parts = []
        for label in sorted(set(self.before) | set(self.after), key=_label_order):
            old, new = self.before.get(label), self.after.get(label)
            if old != new:
                parts.append(f"{label} {old or '—'} → {new or '—'}")
        return ", ".join(parts)


def _label_order(label: str) -> tuple[int, str]:
    order = {STABLE: 0, CANARY: 1, PREVIOUS: 2}
    return order.get(label, 3), label


class Lifecycle:
    """The versions of one model in one models folder, and its labels in ``models.config``."""

    def __init__(self, models_dir: str | Path, model: str = "bgm", keep: int = 5) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.models_dir, self.model, self.keep = Path(models_dir), model, keep

    @property
    def config_path(self) -> Path:
        return config_path(self.models_dir)

    @property
    def model_dir(self) -> Path:
        return self.models_dir / self.model

    # ---- reading
    def entry(self) -> ModelEntry | None:
        """This model's config entry (None without a config naming it); ``ConfigError`` if unreadable."""
        models = read(self.config_path)
        return None if models is None else models.get(self.model)

    def labels(self) -> dict[str, int]:
        entry = self.entry()
        return dict(entry.labels) if entry else {}

    def versions(self) -> list[VersionInfo]:
        """Every version folder, newest first, with its labels (a malformed config: no labels)."""
        try:
            labels = self.labels()
        except ConfigError:
            labels = {}
        return [
            describe(self.model_dir, v, labels) for v in sorted(version_folders(self.model_dir), reverse=True)
        ]

    def problems(self) -> list[str]:
        """What is wrong with the config for this folder (empty when all is well or there is none)."""
        try:
            models = read(self.config_path)
        except ConfigError as error:
            return [str(error)]
        if models is None:
            return []
        found = problems(models, self.models_dir)
        if self.model not in models:
            found.append(f"{self.config_path} does not name model {self.model}, so no server serves it")
        return found

    def serving(self) -> int | None:
        """The version clients get: ``stable``'s, else (no labels, or a config that does not parse) the
        newest folder."""
        try:
            stable = self.labels().get(STABLE)
        except ConfigError:
            stable = None
        if stable is not None and stable in version_folders(self.model_dir):
            return stable
        present = version_folders(self.model_dir)
        return max(present) if present else None

    # ---- changing
    def promote(self, version: int, label: str = STABLE, failed: Mapping[int, str] | None = None) -> Change:
        """Point ``label`` (stable or canary) at ``version``; stable's old version becomes ``previous``."""
        if label not in LABELS:
            raise LifecycleError(f"Only {' and '.join(LABELS)} can be set; {PREVIOUS} follows stable.")
        with locked(self.config_path):
            entry = self._entry_for_change()
            self._check_servable(version, failed)
            labels = dict(entry.labels)
            if label == STABLE:
                old = labels.get(STABLE)
                if old != version:
                    labels[STABLE] = version
                    if old is not None and old in version_folders(self.model_dir):
                        labels[PREVIOUS] = old
                    else:
                        labels.pop(PREVIOUS, None)
                if labels.get(CANARY) == version:
                    labels.pop(CANARY)  # tried and promoted: no longer a canary
            else:
                labels[label] = version
            return self._write(entry, labels)

    def rollback(self, failed: Mapping[int, str] | None = None) -> Change:
        """``stable`` back to ``previous`` (or, when none is recorded, to the newest version below it)."""
        failed = failed or {}
        with locked(self.config_path):
            entry = self._entry_for_change()
            labels = dict(entry.labels)
            stable = labels.get(STABLE)
            if stable is None:
                raise LifecycleError("No version is labelled stable, so there is nothing to roll back from.")
            present = version_folders(self.model_dir)
            previous = labels.get(PREVIOUS)
            if previous is None or previous == stable or previous not in present or previous in failed:
                below = [v for v in present if v < stable and v not in failed]
                previous = max(below) if below else None
            if previous is None:
                raise LifecycleError(f"No version to roll back to: version {stable} is the oldest left.")
            labels[STABLE] = previous
            labels.pop(PREVIOUS, None)
            if labels.get(CANARY) == previous:
                labels.pop(CANARY)
            return self._write(entry, labels)

    def prune(self) -> list[int]:
        """Remove versions older than the newest ``keep`` that no label names; the ones removed."""
        with locked(self.config_path):
            try:
                labelled = set(self.labels().values())
            except ConfigError as error:  # without knowing the labels nothing is safe to remove
                raise LifecycleError(f"Not pruning: {error}") from None
            present = sorted(version_folders(self.model_dir), reverse=True)
            doomed = [v for v in present[self.keep :] if v not in labelled]
            for version in doomed:
                # One rename takes it out of every server's view at once; the slow delete comes after.
                tmp = self.model_dir / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
                os.rename(self.model_dir / str(version), tmp)
                shutil.rmtree(tmp, ignore_errors=True)
            return doomed

    def go_live(self, version: int) -> tuple[Change | None, list[int]]:
        """After publishing ``version``: label it stable if the folder has a config (without one the
        newest version is served anyway), then prune. (The change, or None; the versions removed.)"""
        change = self.promote(version) if self.config_path.exists() else None
        return change, self.prune()

    # ---- helpers
    def _entry_for_change(self) -> ModelEntry:
        try:
            entry = self.entry()
        except ConfigError as error:
            raise LifecycleError(f"{error} Fix or remove {self.config_path} first.") from None
        # A folder without a config was served by its newest version; from now on every version is
        # loaded and the labels choose (base_path is where TF Serving's container mounts the folder).
        return entry or ModelEntry(self.model, f"/models/{self.model}", Policy("all"), {})

    def _check_servable(self, version: int, failed: Mapping[int, str] | None) -> None:
        present = version_folders(self.model_dir)
        if version not in present:
            shown = ", ".join(map(str, sorted(present))) or "none"
            raise LifecycleError(f"Version {version} is not in {self.model_dir} (versions there: {shown}).")
        if failed and version in failed:
            raise LifecycleError(f"Version {version} failed to load on the model server: {failed[version]}")

    def _write(self, entry: ModelEntry, labels: dict[str, int]) -> Change:
        models = read(self.config_path) or {}
        before = dict(entry.labels)
        models[self.model] = replace(entry, labels=labels)
        if labels != before or not self.config_path.exists():
            try:
                write(self.config_path, models)
            except ConfigError as error:
                raise LifecycleError(str(error)) from None
        return Change(self.model, before, labels)
