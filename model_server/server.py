"""Build, start and stop the gRPC server (and the REST API beside it); ``serve`` runs it until SIGTERM/SIGINT.

``EmbeddedServer`` is for code that needs a server for a while (tests, benches): ``start()`` loads
what is in the models folder, binds, returns the port and leaves the server running on gRPC's own
threads, so the caller's thread (any thread) carries on. ``local_server`` is the one way a command
(``bgm compose``, ``bgm bot`` without ``BGM_SERVER``) gets one for as long as it runs.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from lifecycle.config import ConfigError, ModelEntry, Policy, config_path, render
from lifecycle.config import read as read_config
from model_server.batching import DEFAULT_BATCHING_CONFIG, Batcher, BatchingParameters
from model_server.monitoring import ServingMetrics
from model_server.repository import Repository
from model_server.rest import RestApi, RestServer
from model_server.service import ModelServicer, PredictionServicer

log = logging.getLogger(__name__)
SERVICES = ("", "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")
# TF Serving lifts gRPC's 4 MiB message limit; so do we (-1 = unlimited). A second server on the same
# port must fail to bind rather than silently share it (gRPC's default is SO_REUSEPORT on Linux).
_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.so_reuseport", 0),
]


def _batching(config: str | Path | BatchingParameters | None) -> BatchingParameters | None:
    if config is None or isinstance(config, BatchingParameters):
        return config
    return BatchingParameters.from_file(config)


class EmbeddedServer:
    """TF Serving's gRPC API (and, with ``rest_port``, its REST API) over the models under
    ``models_root``; also a context manager."""

    def __init__(
        self,
        models_root: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        batching_config: str | Path | BatchingParameters | None = None,
        poll_seconds: float = 1.0,
        max_workers: int = 32,
        model_config_file: str | Path | None = None,
        config_poll_seconds: float = 0.0,
        rest_port: int | None = None,
        run_when_idle: bool = True,
        tensor_content: bool = True,
        monitoring: bool = False,
    ) -> None:
        """``batching_config``: a TF Serving batching parameters file, parsed parameters, or None (off).
        ``model_config_file``: TF Serving's --model_config_file (labels and version policy), re-read every
        ``config_poll_seconds`` (0: read once). ``rest_port``: serve the REST API too (0: any free port).
        ``run_when_idle``: a batch holding every request in the server runs without waiting out its
        timeout (``model_server.batching``); False schedules exactly as TF Serving does.
        ``tensor_content``: numeric gRPC outputs as raw bytes (TF Serving's AS_PROTO_CONTENT), else in
        the typed ``*_val`` fields (its default, AS_PROTO_FIELD); clients read both.
        ``monitoring``: TF Serving's Prometheus metrics at ``/monitoring/prometheus/metrics`` on the
        REST port (its ``--monitoring_config_file`` with ``prometheus_config { enable: true }``)."""
        if monitoring and rest_port is None:
            raise ValueError(
                "monitoring needs the REST API: give a rest_port (TF Serving serves metrics there)"
            )
        self.models_root = Path(models_root)
        self.host, self.port = host, port
        self.poll_seconds = poll_seconds
        self.max_workers = max_workers
        self.batching = _batching(batching_config)
        self.run_when_idle, self.tensor_content = run_when_idle, tensor_content
        self.health = health.HealthServicer()
        self.repository = Repository(
            self.models_root,
            on_change=self._set_health,
            config_file=model_config_file,
            config_poll_seconds=config_poll_seconds,
        )
        self.metrics = ServingMetrics() if monitoring else None
        self.batcher: Batcher | None = None
        self.rest_port = rest_port
        self._rest: RestServer | None = None
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> int:
        """Load the models present now, start serving and polling; return the bound port."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._set_health(False)
        self.repository.poll_once()
        self.batcher = (
            Batcher(self.batching, run_when_idle=self.run_when_idle) if self.batching is not None else None
        )
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="grpc"),
            options=_OPTIONS,
        )
        prediction = PredictionServicer(
            self.repository, self.batcher, tensor_content=self.tensor_content, metrics=self.metrics
        )
        models = ModelServicer(self.repository)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            bound = server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError as error:
            bound, reason = 0, error
        else:
            reason = None
        if not bound:
            self._shutdown_workers()
            raise OSError(f"cannot listen on {host}:{self.port}: {reason or 'address in use?'}")
        self.port = bound
        if self.rest_port is not None:
            self._rest = RestServer(RestApi(self.repository, prediction, models), self.host, self.rest_port)
            try:
                self.rest_port = self._rest.start()
            except OSError:
                self._rest = None
                self._shutdown_workers()
                raise
        server.start()
        self._server = server
        self.repository.start_polling(self.poll_seconds)
        self._set_health(self.repository.available())
        log.info("model server listening on %s, serving %s", self.address, self.models_root)
        return bound

    def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, let in-flight ones finish (up to ``grace`` seconds), then unload everything."""
        if self._server is None:
            return
        self.health.enter_graceful_shutdown()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        self._server.stop(grace).wait()
        self._server = None
        self._shutdown_workers()
        log.info("model server on %s stopped", self.address)

    def _shutdown_workers(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
        self.repository.close()

    def tf_calls(self, model: str, version: int | None = None) -> int:
        """TF calls made for ``model`` (one ``version`` or all), warm-up excluded."""
        return self.repository.calls.get(model, version)

    def _set_health(self, available: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if available
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in SERVICES:
            self.health.set(service, status)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    models_root: str | Path,
    host: str = "127.0.0.1",
    port: int = 8500,
    batching_config: str | Path | BatchingParameters | None = None,
    poll_seconds: float = 1.0,
    grace: float = 10.0,
    stop_event: threading.Event | None = None,
    model_config_file: str | Path | None = None,
    config_poll_seconds: float = 0.0,
    rest_port: int | None = None,
    **options,
) -> None:
    """Serve until SIGTERM or SIGINT (or ``stop_event``, for callers off the main thread), then drain.
    ``options``: ``run_when_idle``, ``tensor_content``, ``monitoring``, as ``EmbeddedServer`` takes them."""
    stop = stop_event or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    server = EmbeddedServer(
        models_root,
        host=host,
        port=port,
        batching_config=batching_config,
        poll_seconds=poll_seconds,
        model_config_file=model_config_file,
        config_poll_seconds=config_poll_seconds,
        rest_port=rest_port,
        **options,
    )
    try:
        server.start()
        # wait() with a timeout keeps the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
        log.info("stopping: letting in-flight calls finish")
    finally:
        server.stop(grace)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def local_server(
    models_root: str | Path,
    model_name: str = "bgm",
    batching_config: str | Path | BatchingParameters | None = DEFAULT_BATCHING_CONFIG,
    poll_seconds: float = 1.0,
    only_label: str | None = None,
) -> Iterator[str]:
    """An embedded server on ``models_root`` (loopback, any free port, batching as in production) for
    the length of a command: its address. ``<models_root>/<model_name>`` is created if missing, so a
    version published later (``bgm train``, ``/bgm train``) is picked up; the folder's ``models.config``,
    if it has one, chooses versions and labels and is re-read as often as the folder is scanned.

    ``only_label`` (a one-song command's: the label it composes with, "" for the latest) serves just
    that version: loading the others would cost the command time and memory it never uses."""
    (Path(models_root) / model_name).mkdir(parents=True, exist_ok=True)
    config = folder_config(models_root)
    with contextlib.ExitStack() as stack:
        narrowed = one_version_config(config, model_name, only_label) if only_label is not None else None
        if narrowed is not None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bgm-serve-")))
            config = folder / "models.config"
            config.write_text(narrowed)
        server = stack.enter_context(
            EmbeddedServer(
                models_root,
                batching_config=batching_config,
                poll_seconds=poll_seconds,
                model_config_file=config,
                config_poll_seconds=poll_seconds if narrowed is None else 0.0,
            )
        )
        yield server.address


def one_version_config(config: Path | None, model_name: str, label: str) -> str | None:
    """A config serving only the version of ``model_name`` that ``label`` names in ``config`` (the
    folder's), under that label; else only the latest the config would serve (what the client asks
    for when the label is "" or unknown). None when ``config`` is unreadable: the server is given it
    as it is, and refuses it and says why as it always does."""
    try:
        entry = read_config(config).get(model_name) if config else None
    except ConfigError:
        return None
    base_path = entry.base_path if entry else f"/models/{model_name}"
    if entry is not None and label in entry.labels:
        version = entry.labels[label]
        only = ModelEntry(model_name, base_path, Policy("specific", versions=(version,)), {label: version})
    elif entry is not None and entry.policy.kind == "specific" and entry.policy.versions:
        only = ModelEntry(model_name, base_path, Policy("specific", versions=(max(entry.policy.versions),)))
    else:
        only = ModelEntry(model_name, base_path, Policy("latest"))
    return render({model_name: only})


def folder_config(models_root: str | Path) -> Path | None:
    """The models folder's own ``models.config`` when it has one (what ``bgm models`` writes)."""
    path = config_path(Path(models_root))
    return path if path.is_file() else None
