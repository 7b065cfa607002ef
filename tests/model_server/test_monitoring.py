"""TF Serving's Prometheus endpoint on the embedded server: its path, its names, counted requests."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model_server import EmbeddedServer
from model_server.monitoring import BUCKETS_US, PATH
from tests.model_server.helpers import MODEL
from tests.model_server.test_rest import MOOD, TOKENS, call


def scrape(server) -> dict[str, dict[tuple, float]]:
    """Each sample of the endpoint, read with prometheus_client's own parser: {name: {labels: value}}."""
    url = f"http://127.0.0.1:{server.rest_port}{PATH}"
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_predicts_are_counted_under_tf_servings_names(make_server, models_root, connect):
    server = make_server(models_root, rest_port=0, monitoring=True)
    client = connect(server)
    for _ in range(3):
        client.predict(TOKENS, MOOD)
    with pytest.raises(grpc.RpcError) as missing:
        client.predict(TOKENS, MOOD, version=9)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    status, _ = call(server, f"/v1/models/{MODEL}:predict", {"inputs": {"tokens": TOKENS, "mood": MOOD}})
    assert status == 200

    seen = scrape(server)
    requests = seen[":tensorflow:serving:request_count"]
    assert requests == {
        (("model_name", MODEL), ("status", "OK")): 4.0,
        (("model_name", MODEL), ("status", "NOT_FOUND")): 1.0,
    }
    latency = seen[":tensorflow:serving:request_latency_count"]
    assert latency == {
        (("API", "Predict"), ("entrypoint", "GRPC"), ("model_name", MODEL)): 4.0,
        (("API", "Predict"), ("entrypoint", "REST"), ("model_name", MODEL)): 1.0,
    }
    # TF Serving's buckets, in microseconds; only answered Predicts reach TensorFlow.
    buckets = seen[":tensorflow:serving:runtime_latency_bucket"]
    assert len(buckets) == len(BUCKETS_US) + 1
    assert max(buckets.values()) == 4.0
    assert sum(seen[":tensorflow:serving:runtime_latency_sum"].values()) > 0


def test_without_monitoring_the_path_serves_no_metrics(make_server, models_root):
    server = make_server(models_root, rest_port=0)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}{PATH}", timeout=60)
    assert refused.value.code == 400


def test_monitoring_needs_the_rest_port(models_root):
    with pytest.raises(ValueError, match="monitoring needs the REST API"):
        EmbeddedServer(models_root, monitoring=True)
