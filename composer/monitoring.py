"""The Prometheus metrics of a process that makes songs: the bot, and ``bgm worker`` the same way.

One registry of bgm's own (plus the process's CPU and memory), served on ``BGM_METRICS_PORT`` by
``serve``; nothing is served unless that is set. Each process has its own endpoint, and
Prometheus sums them. What is measured, and where:

- ``bgm_songs_total{mood, outcome}``: songs answered, ``posted`` or ``failed`` (the track maker);
- ``bgm_errors_total{kind}``: failures by kind, the error's class (``ServerUnavailable``...);
- ``bgm_queue_depth`` and ``bgm_queue_running``: jobs waiting and being made, read when scraped;
- ``bgm_queue_wait_seconds``: from a job's submission to its start;
- ``bgm_compose_seconds`` and ``bgm_render_seconds``: the two halves of ``make_song``;
- ``bgm_radios``: radios on air.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # CPU seconds, memory, open files

# Seconds: a short song composes in a few seconds on a CPU; a queue under a burst waits minutes.
SONG_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800)

SONGS = Counter("bgm_songs", "Songs answered, by mood and outcome.", ["mood", "outcome"], registry=REGISTRY)
ERRORS = Counter("bgm_errors", "Failures by kind (the error's class name).", ["kind"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("bgm_queue_depth", "Jobs waiting for their turn.", registry=REGISTRY)
QUEUE_RUNNING = Gauge("bgm_queue_running", "Jobs being made.", registry=REGISTRY)
QUEUE_WAIT = Histogram(
    "bgm_queue_wait_seconds", "From a job's submission to its start.", buckets=WAIT_BUCKETS, registry=REGISTRY
)
COMPOSE = Histogram("bgm_compose_seconds", "Composing one song.", buckets=SONG_BUCKETS, registry=REGISTRY)
RENDER = Histogram(
    "bgm_render_seconds", "Rendering one song's files.", buckets=SONG_BUCKETS, registry=REGISTRY
)
RADIOS = Gauge("bgm_radios", "Radios on air.", registry=REGISTRY)

POSTED, FAILED = "posted", "failed"


def song_answered(mood: str, error: BaseException | None = None) -> None:
    """A requester got their song (``error`` None) or was told why not."""
    SONGS.labels(mood, POSTED if error is None else FAILED).inc()
    if error is not None:
        ERRORS.labels(type(error).__name__).inc()


def watch_queue(waiting: Callable[[], float], running: Callable[[], float]) -> None:
    """Read the queue's depth when scraped (the in-process queue, or Redis's)."""
    QUEUE_DEPTH.set_function(waiting)
    QUEUE_RUNNING.set_function(running)


def watch_radios(on_air: Callable[[], float]) -> None:
    RADIOS.set_function(on_air)


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    """Observe how long the block took, failed or not."""
    began = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - began)


def serve(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """The endpoint (``GET /metrics``, any path) on a thread of its own; ``shutdown()`` to stop.

    Port 0 takes a free one: ``server.server_port``. An ``OSError`` when the port is taken."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server
