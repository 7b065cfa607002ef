"""The models folder: scan ``<root>/<model>/<version>/``, load and warm versions, swap, drain, unload.

Without a model config file, every model folder is served by TF Serving's default policy (latest, one
version) with availability preserved: the highest-numbered folder that loads and warms up. A new
version becomes current only once it is ready; the old one stops taking requests at that moment and
unloads when its in-flight requests are done.

With a config file (``lifecycle.config``: TF Serving's ``--model_config_file``, re-read every
``config_poll_seconds`` like ``--model_config_file_poll_wait_seconds``), only the models it names are
served, each by its ``model_version_policy`` (``latest``, ``all`` or ``specific``), and its
``version_labels`` resolve ``model_spec.version_label``. As in TF Serving (server_core.cc,
``UpdateModelVersionLabelMap``, with ``--allow_version_labels_for_unavailable_models``), a label may
be given to a version that is not available only when the label is new or keeps its version; moving
a label to such a version refuses the whole new config, which is tried again at the next poll, so a
label moved to a version still loading takes effect once it is loaded. A config that does not parse
is refused the same way. Either way the server keeps serving what it served and says why
(``config_problem``, and the log).

A version that fails is reported (state END with its error) and skipped until its files change.
Folders whose name is not a number (``.tmp-*`` being written by a publisher) are ignored, which is
what makes publish-by-rename safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from lifecycle.config import ConfigError, ModelEntry, Policy, parse
from model_server.errors import ServingError, from_exception
from model_server.servable import CallCounter, Servable

log = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State
DEFAULT_POLICY = Policy()  # TF Serving's: latest, one version


@dataclass
class VersionRecord:
    """What GetModelStatus reports for one version."""

    state: int
    error_code: int = 0  # tensorflow.error.Code, 0 = OK
    error_message: str = ""


def _fingerprint(path: Path) -> tuple:
    """Changes when a version's files are (re)written, so a failed version is retried only then."""
    stats = []
    for name in ("saved_model.pb", "variables/variables.index"):
        try:
            stat = (path / name).stat()
            stats.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stats.append(None)
    return tuple(stats)


def _versions(model_dir: Path) -> dict[int, Path]:
    try:
        entries = list(model_dir.iterdir())
    except OSError:
        return {}
    return {int(p.name): p for p in entries if p.name.isdigit() and p.is_dir()}


class Repository:
    """Every model under ``root`` (or those ``config_file`` names) and its loaded versions; thread-safe."""

    def __init__(
        self,
        root: str | Path,
        on_change: Callable[[bool], None] | None = None,
        config_file: str | Path | None = None,
        config_poll_seconds: float = 0.0,
    ) -> None:
        self.root = Path(root)
        self.config_file = Path(config_file) if config_file else None
        self.config_poll_seconds = config_poll_seconds
        self.calls = CallCounter()
        self.config_problem: str | None = None  # why the config file on disk is not the one applied
        self._on_change = on_change
        self._lock = threading.Lock()  # guards _current, _labels and _records
        self._poll_lock = threading.Lock()  # one scan at a time
        self._current: dict[str, dict[int, Servable]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._records: dict[str, dict[int, VersionRecord]] = {}
        self._failed: dict[tuple[str, int], tuple] = {}
        self._config: dict[str, ModelEntry] | None = None  # the config applied (None: no config file)
        self._config_text: str | None = None
        self._config_read_at = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- requests
    def acquire(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a ModelSpec names, with a reference held; errors as TF Serving says them."""
        name = spec.name
        choice = spec.WhichOneof("version_choice")
        with self._lock:
            loaded = self._current.get(name, {})
            if choice == "version_label":
                version = self._labels.get(name, {}).get(spec.version_label)
                if version is None:
                    raise ServingError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Unrecognized servable version label: {spec.version_label}",
                    )
            else:
                version = spec.version.value if choice == "version" else None
            if version is not None:
                servable = loaded.get(version)
                if servable is None:
                    raise ServingError(
                        grpc.StatusCode.NOT_FOUND,
                        f"Servable not found for request: Specific({name}, {version})",
                    )
            elif loaded:
                servable = loaded[max(loaded)]
            else:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})"
                )
            servable.acquire()  # cannot fail: a version is retired only after it has left _current
            return servable

    def version_states(self, name: str, version: int | None = None) -> list[tuple[int, VersionRecord]]:
        """(version, record) newest first, as GetModelStatus lists them."""
        with self._lock:
            records = dict(self._records.get(name, {}))
        if version is not None:
            if version not in records:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}"
                )
            return [(version, records[version])]
        if not records:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        return sorted(records.items(), reverse=True)

    def available(self) -> bool:
        with self._lock:
            return any(self._current.values())

    def current_version(self, name: str) -> int | None:
        """The version a request without a version or label gets (the newest loaded)."""
        with self._lock:
            loaded = self._current.get(name)
            return max(loaded) if loaded else None

    def loaded_versions(self, name: str) -> list[int]:
        with self._lock:
            return sorted(self._current.get(name, {}))

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._labels.get(name, {}))

    # ---- the config file
    def _read_config(self) -> None:
        """Apply the config file if it changed (or was refused before); keep the old one if it is wrong."""
        if self.config_file is None:
            return
        now = time.monotonic()
        first = self._config_text is None and self._config is None
        if not first and (
            self.config_poll_seconds <= 0 or now - self._config_read_at < self.config_poll_seconds
        ):
            return
        self._config_read_at = now
        try:
            text = self.config_file.read_text()
        except OSError as error:
            self._refuse(f"cannot read {self.config_file}: {error}")
            return
        if text == self._config_text and self.config_problem is None:
            return
        try:
            models = parse(text)
            labels = self._checked_labels(models)
        except ConfigError as error:
            self._refuse(str(error))
            return
        with self._lock:
            self._labels = labels
        self._config, self._config_text, self.config_problem = models, text, None
        log.info("model config %s applied: %s", self.config_file, _describe(models))

    def _checked_labels(self, models: dict[str, ModelEntry]) -> dict[str, dict[str, int]]:
        with self._lock:
            current_labels = {name: dict(labels) for name, labels in self._labels.items()}
            loaded = {name: set(versions) for name, versions in self._current.items()}
        for model in models.values():
            for label, version in model.labels.items():
                unchanged = current_labels.get(model.name, {}).get(label, version) == version
                if version not in loaded.get(model.name, set()) and not unchanged:
                    raise ConfigError(
                        f"Request to assign label to version {version} of model {model.name}, "
                        "which is not currently available for inference"
                    )
        return {model.name: dict(model.labels) for model in models.values()}

    def _refuse(self, problem: str) -> None:
        if problem != self.config_problem:
            log.error(
                "model config %s not applied, still serving the previous one: %s", self.config_file, problem
            )
        self.config_problem = problem

    # ---- scanning
    def poll_once(self) -> None:
        """Re-read the config when due, then bring every model in line with the folder and its policy."""
        with self._poll_lock:
            self._read_config()
            if self._config is not None:
                model_dirs = {name: self.root / name for name in self._config}
            else:
                try:
                    model_dirs = {
                        p.name: p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
                    }
                except OSError as error:
                    log.warning("cannot scan models root %s: %s", self.root, error)
                    model_dirs = {}
            with self._lock:
                gone = [name for name in self._current if name not in model_dirs]
            for name in gone:
                for version in self.loaded_versions(name):
                    self._retire(name, version)
            for name, path in sorted(model_dirs.items()):
                entry = self._config.get(name) if self._config is not None else None
                self._sync_model(name, _versions(path), entry.policy if entry else DEFAULT_POLICY)
            if self._config is not None and self.config_problem is not None:
                self._read_config_now()

    def _read_config_now(self) -> None:
        """A refused config is tried again as soon as versions it waited for may have loaded."""
        self._config_read_at = -float("inf")

    def _sync_model(self, name: str, on_disk: dict[int, Path], policy: Policy) -> None:
        loaded = set(self.loaded_versions(name))
        keep: set[int] = set()
        if policy.kind == "latest":  # the newest that load, never a newer broken one over a working one
            for version in sorted(on_disk, reverse=True):
                if len(keep) == policy.num_versions:
                    break
                if version in loaded or self._load(name, version, on_disk[version]):
                    keep.add(version)
        else:
            wanted = (
                on_disk
                if policy.kind == "all"
                else {v: p for v, p in on_disk.items() if v in policy.versions}
            )
            labelled = set(self.labels(name).values())
            # Labelled versions first, so the one clients ask for is ready soonest.
            for version in sorted(wanted, key=lambda v: (v not in labelled, -v)):
                if version in loaded or self._load(name, version, wanted[version]):
                    keep.add(version)
        for version in sorted(loaded - keep):
            self._retire(name, version)

    def _load(self, name: str, version: int, path: Path) -> bool:
        fingerprint = _fingerprint(path)
        if self._failed.get((name, version)) == fingerprint:
            return False
        self._set_record(name, version, VersionRecord(State.LOADING))
        log.info("loading %s version %d from %s", name, version, path)
        try:
            servable = Servable(name, version, path, self.calls)
            servable.warm_up()
        except Exception as exception:  # whatever goes wrong, the version is reported, never served
            error = from_exception(exception)
            log.error("%s version %d failed to load: %s", name, version, error.message)
            self._failed[(name, version)] = fingerprint
            self._set_record(name, version, VersionRecord(State.END, error.code.value[0], error.message))
            return False
        if problems := servable.contract_problems():  # served all the same, as TF Serving would
            log.warning(
                "%s version %d does not follow the bgm model contract: %s", name, version, "; ".join(problems)
            )
        with self._lock:
            self._current.setdefault(name, {})[version] = servable
            self._records.setdefault(name, {})[version] = VersionRecord(State.AVAILABLE)
        log.info("%s version %d is available", name, version)
        self._notify()
        return True

    def _retire(self, name: str, version: int) -> None:
        with self._lock:
            old = self._current.get(name, {}).pop(version, None)
            if old is None:
                return
            if not self._current[name]:
                del self._current[name]
            self._records.setdefault(name, {})[version] = VersionRecord(State.UNLOADING)
        # Outside the lock: retire() may unload at once, and the callback takes the lock. No request can
        # reach ``old`` any more, since lookups go through _current under the lock.
        old.retire(self._unloaded_callback(name, version))
        log.info("%s version %d retired", name, version)
        self._notify()

    def _unloaded_callback(self, name: str, version: int) -> Callable[[], None]:
        def done() -> None:
            self._set_record(name, version, VersionRecord(State.END))
            log.info("%s version %d unloaded", name, version)

        return done

    def _set_record(self, name: str, version: int, record: VersionRecord) -> None:
        with self._lock:
            self._records.setdefault(name, {})[version] = record

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self.available())

    # ---- polling thread
    def start_polling(self, poll_seconds: float) -> None:
        """Rescan every ``poll_seconds`` in a daemon thread until close()."""
        if poll_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._poll_loop, args=(poll_seconds,), name="model-poll", daemon=True
        )
        self._thread.start()

    def _poll_loop(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.poll_once()
            except Exception:  # a bad scan must not end polling for good
                log.exception("polling %s failed", self.root)

    def close(self) -> None:
        """Stop polling and retire every version (each unloads once its requests are done)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            loaded = [(name, version) for name, versions in self._current.items() for version in versions]
        for name, version in loaded:
            self._retire(name, version)


def _describe(models: dict[str, ModelEntry]) -> str:
    return "; ".join(
        f"{m.name} ({m.policy.kind}" + "".join(f", {k}={v}" for k, v in sorted(m.labels.items())) + ")"
        for m in models.values()
    )
