"""The models folder: scan ``<root>/<model>/<version>/``, load and warm new versions, swap, drain, unload.

Policy (TF Serving's latest-version policy with availability preserved): each model serves one
version, the highest-numbered folder that loads and warms up. A new version becomes current only once
it is ready; the old one stops taking requests at that moment and unloads when its in-flight requests
are done. A version that fails is reported (state END with its error) and skipped until its files
change; the version being served keeps serving. Folders whose name is not a number (``.tmp-*`` being
written by a publisher) are ignored, which is what makes publish-by-rename safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_pb2

from model_server.errors import ServingError, from_exception
from model_server.servable import CallCounter, Servable

log = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State


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
    """Every model under ``root``, one current version each; thread-safe."""

    def __init__(self, root: str | Path, on_change: Callable[[bool], None] | None = None) -> None:
        self.root = Path(root)
        self.calls = CallCounter()
        self._on_change = on_change
        self._lock = threading.Lock()  # guards _current and _records
        self._poll_lock = threading.Lock()  # one scan at a time
        self._current: dict[str, Servable] = {}
        self._records: dict[str, dict[int, VersionRecord]] = {}
        self._failed: dict[tuple[str, int], tuple] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- requests
    def acquire(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a ModelSpec names, with a reference held; NOT_FOUND etc. as TF Serving says them."""
        name = spec.name
        choice = spec.WhichOneof("version_choice")
        if choice == "version_label":
            # No labels are configured, and TF Serving answers an unknown label with INVALID_ARGUMENT.
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {spec.version_label}"
            )
        with self._lock:
            current = self._current.get(name)
            if choice == "version" and (current is None or current.version != spec.version.value):
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Servable not found for request: Specific({name}, {spec.version.value})",
                )
            if current is None:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})"
                )
            current.acquire()  # cannot fail: a version is retired only after it has left _current
            return current

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
            return bool(self._current)

    def current_version(self, name: str) -> int | None:
        with self._lock:
            current = self._current.get(name)
            return None if current is None else current.version

    # ---- scanning
    def poll_once(self) -> None:
        """Bring every model in line with the folder: load what is new, retire what is gone."""
        with self._poll_lock:
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
                self._retire_current(name)
            for name, path in sorted(model_dirs.items()):
                self._sync_model(name, _versions(path))

    def _sync_model(self, name: str, versions: dict[int, Path]) -> None:
        current = self.current_version(name)
        for version in sorted(versions, reverse=True):
            if version == current:
                return
            fingerprint = _fingerprint(versions[version])
            if self._failed.get((name, version)) == fingerprint:
                continue
            if self._load(name, version, versions[version], fingerprint):
                return
        if current is not None:  # its folder is gone and nothing else loads
            self._retire_current(name)

    def _load(self, name: str, version: int, path: Path, fingerprint: tuple) -> bool:
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
            old = self._current.get(name)
            self._current[name] = servable
            self._records.setdefault(name, {})[version] = VersionRecord(State.AVAILABLE)
            if old is not None:
                self._records[name][old.version] = VersionRecord(State.UNLOADING)
        # Outside the lock: retire() may unload at once, and the callback takes the lock. No request can
        # reach ``old`` any more, since lookups go through _current under the lock.
        if old is not None:
            old.retire(self._unloaded_callback(name, old.version))
        log.info("%s version %d is available", name, version)
        self._notify()
        return True

    def _retire_current(self, name: str) -> None:
        with self._lock:
            old = self._current.pop(name, None)
            if old is None:
                return
            self._records.setdefault(name, {})[old.version] = VersionRecord(State.UNLOADING)
        old.retire(self._unloaded_callback(name, old.version))
        log.info("%s version %d retired", name, old.version)
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
            names = list(self._current)
        for name in names:
            self._retire_current(name)
