"""TF Serving's Prometheus metrics, with its names, for ``GET /monitoring/prometheus/metrics``.

TF Serving exports its TensorFlow monitoring metrics there when ``--monitoring_config_file`` says
``prometheus_config { enable: true }``, on the REST port; their names are the metric paths with
``/`` written as ``:``. The ones kept here, and where TF Serving records them
(servables/tensorflow/util.cc, model_servers/prediction_service_impl.cc, http_rest_api_handler.cc):

- ``:tensorflow:serving:request_count{model_name, status}``: each Predict, by its status code name
  (``OK``, ``NOT_FOUND``...);
- ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: its wall time in
  microseconds, ``API="Predict"``, ``entrypoint`` ``GRPC`` or ``REST``;
- ``:tensorflow:serving:runtime_latency{model_name, API, runtime}``: the TensorFlow call's share.

Both latencies use TF Serving's buckets (10 µs times 1.8^k, 33 of them, about 20 minutes). The
counter is exported untyped: prometheus_client writes a counter's TYPE line as ``<name>_total``,
and the name is what dashboards made for TF Serving query.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator

import grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric

PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
BUCKETS_US = tuple(10 * 1.8**k for k in range(33))  # monitoring::Buckets::Exponential(10, 1.8, 33)
RUNTIME = "TF2"  # SavedModels run as tf.functions


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_US) + 1)  # the last: above every bound
        self.total = 0.0

    def add(self, value: float) -> None:
        index = next((k for k, bound in enumerate(BUCKETS_US) if value <= bound), len(BUCKETS_US))
        self.counts[index] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, int]]:
        bounds = [*(repr(bound) for bound in BUCKETS_US), "+Inf"]
        cumulative, out = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            cumulative += count
            out.append((bound, cumulative))
        return out


class ServingMetrics:
    """The counts and latencies of one server; a prometheus_client collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._request_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._runtime_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def request(self, model: str, code: grpc.StatusCode, entrypoint: str, seconds: float) -> None:
        """One Predict answered (``code`` OK or its error) through ``entrypoint`` (GRPC or REST)."""
        with self._lock:
            self._requests[model, code.name] += 1
            self._request_latency[model, "Predict", entrypoint].add(seconds * 1e6)

    def runtime(self, model: str, seconds: float) -> None:
        """One TensorFlow call made for a Predict (a batch of them counts once)."""
        with self._lock:
            self._runtime_latency[model, "Predict", RUNTIME].add(seconds * 1e6)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            count = Metric(REQUEST_COUNT, "The total number of requests.", "unknown")
            for (model, status), n in sorted(self._requests.items()):
                count.add_sample(REQUEST_COUNT, {"model_name": model, "status": status}, n)
            yield count
            yield self._histogram(
                REQUEST_LATENCY,
                "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
                ["model_name", "API", "entrypoint"],
                self._request_latency,
            )
            yield self._histogram(
                RUNTIME_LATENCY,
                "Distribution of wall time (in microseconds) for Tensorflow runtime.",
                ["model_name", "API", "runtime"],
                self._runtime_latency,
            )

    @staticmethod
    def _histogram(name, documentation, labels, cells) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=labels)
        for key, histogram in sorted(cells.items()):
            family.add_metric(list(key), histogram.buckets(), histogram.total)
        return family

    def exposition(self) -> bytes:
        """The Prometheus text format, as TF Serving serves it."""
        return generate_latest(self._registry)
