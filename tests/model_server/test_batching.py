"""Batching: merging calls into fewer TF calls, splitting answers back, refusing when the queue is full,
and not waiting when nothing else is in the server.

Most tests schedule exactly as TF Serving does (``run_when_idle=False``): their batches close by
filling up, whatever order the requests arrive in."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
import numpy as np
import pytest

from model_server import DEFAULT_BATCHING_CONFIG, BatchingParameters
from model_server.batching import Batcher
from model_server.errors import ServingError
from model_server.servable import Servable
from tests.model_server.helpers import expected_logits, logits, wait_until

LONG = 60_000_000  # a batch timeout no test waits for: batches here close by filling up


def params(**overrides) -> BatchingParameters:
    values = dict(max_batch_size=4, batch_timeout_micros=LONG, max_enqueued_batches=10, num_batch_threads=1)
    return BatchingParameters(**{**values, **overrides})


# ---- the batcher on its own, with a fake servable


class Doubler:
    """Answers y = 2x per row (or a constant, if not per row) and records each call's inputs."""

    def __init__(self, per_row: bool = True) -> None:
        self.per_row = per_row
        self.calls: list[np.ndarray] = []

    def run(self, signature, inputs):
        self.calls.append(inputs["x"])
        if inputs["x"].min(initial=0) < 0:
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2 if self.per_row else np.array(5)}


MERGEABLE = SimpleNamespace(name="s", mergeable=True)


def run_together(batcher: Batcher, servable, arrays, signature=MERGEABLE):
    with ThreadPoolExecutor(len(arrays)) as pool:
        futures = [pool.submit(batcher.run, servable, signature, {"x": a}) for a in arrays]
        return [f.result(timeout=60)["y"] for f in futures]


@pytest.fixture
def make_batcher():
    batchers = []

    def make(run_when_idle: bool = False, **overrides) -> Batcher:
        batchers.append(Batcher(params(**overrides), run_when_idle=run_when_idle))
        return batchers[-1]

    yield make
    for batcher in batchers:
        batcher.close()


def test_requests_are_merged_and_split_back_by_rows(make_batcher):
    servable = Doubler()
    arrays = [np.full([1, 3], 1), np.full([2, 3], 2), np.full([1, 3], 3)]
    results = run_together(make_batcher(), servable, arrays)
    assert len(servable.calls) == 1 and servable.calls[0].shape == (4, 3)
    for array, result in zip(arrays, results, strict=True):
        np.testing.assert_array_equal(result, array * 2)


def test_requests_with_different_inner_shapes_are_not_merged(make_batcher):
    servable = Doubler()
    batcher = make_batcher(max_batch_size=2)
    run_together(batcher, servable, [np.ones([1, 3]), np.ones([1, 2]), np.ones([1, 3]), np.ones([1, 2])])
    assert sorted(c.shape for c in servable.calls) == [(2, 2), (2, 3)]


def test_a_signature_without_batch_dims_runs_each_request_alone(make_batcher):
    servable = Doubler(per_row=False)
    solo = SimpleNamespace(name="s", mergeable=False)
    results = run_together(make_batcher(), servable, [np.ones([1])] * 3, signature=solo)
    assert len(servable.calls) == 3 and all(r == 5 for r in results)


def test_outputs_that_are_not_per_row_fall_back_to_one_call_per_request(make_batcher):
    servable = Doubler(per_row=False)  # claims to be mergeable, is not
    results = run_together(make_batcher(max_batch_size=2), servable, [np.ones([1]), np.ones([1])])
    assert len(servable.calls) == 3 and all(r == 5 for r in results)


def test_a_failing_call_fails_every_request_in_the_batch(make_batcher):
    batcher, servable = make_batcher(max_batch_size=2), Doubler()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(batcher.run, servable, MERGEABLE, {"x": np.full([1], v)}) for v in (1, -1)]
        for future in futures:
            with pytest.raises(ServingError):
                future.result(timeout=60)
    assert len(servable.calls) == 1


def test_a_lone_request_runs_once_the_timeout_expires(make_batcher):
    batcher = make_batcher(batch_timeout_micros=20_000)
    assert batcher.run(Doubler(), MERGEABLE, {"x": np.ones([1])})["y"] == 2


class Gated(Doubler):
    """A Doubler whose first call waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.entered = threading.Event(), threading.Event()

    def run(self, signature, inputs):
        if not self.calls:
            self.entered.set()
            self.gate.wait(60)
        return super().run(signature, inputs)


def test_a_request_alone_in_the_server_does_not_wait_for_the_batch_timeout(make_batcher):
    batcher = make_batcher(run_when_idle=True)  # the timeout is a minute; the test would hang on it
    with ThreadPoolExecutor(1) as pool:
        assert (
            pool.submit(batcher.run, Doubler(), MERGEABLE, {"x": np.ones([1])}).result(timeout=30)["y"] == 2
        )


def test_a_request_alone_that_fails_is_answered_with_the_error_and_leaves_the_server_idle(make_batcher):
    batcher, servable = make_batcher(run_when_idle=True), Doubler()
    with pytest.raises(ServingError):
        batcher.run(servable, MERGEABLE, {"x": np.full([1], -1)})
    assert batcher.run(servable, MERGEABLE, {"x": np.ones([1])})["y"] == 2  # not waiting on a ghost


def test_requests_arriving_while_others_run_still_merge_and_run_once_nothing_else_does(make_batcher):
    batcher, servable = make_batcher(run_when_idle=True), Gated()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher.run, servable, MERGEABLE, {"x": np.full([1], 1)})
        assert servable.entered.wait(30)  # alone: it runs at once, and holds the batch thread
        later = [pool.submit(batcher.run, servable, MERGEABLE, {"x": np.full([1], v)}) for v in (2, 3)]
        wait_until(lambda: batcher.pending() == 2, what="both later requests to be queued")
        servable.gate.set()  # the first one finishes: the two waiting are all that is left, and run
        assert [f.result(timeout=30)["y"][0] for f in (first, *later)] == [2, 4, 6]
    assert [c.tolist() for c in servable.calls] == [[1], [2, 3]]


def test_a_request_larger_than_a_batch_is_invalid(make_batcher):
    with pytest.raises(ServingError) as caught:
        make_batcher().run(Doubler(), MERGEABLE, {"x": np.ones([5])})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


# ---- over gRPC, against the toy model


def predict_concurrently(client, requests):
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda r: client.predict(*r), requests))


def test_concurrent_predicts_become_one_tf_call(make_server, connect, models_root):
    server = make_server(models_root, batching_config=params(max_batch_size=4), run_when_idle=False)
    client = connect(server)
    requests = [([[i, 0, 0, 1]], [i]) for i in range(4)]
    responses = predict_concurrently(client, requests)
    assert server.tf_calls("toy", 2) == 1
    for (tokens, mood), response in zip(requests, responses, strict=True):
        np.testing.assert_allclose(logits(response), expected_logits(tokens, mood, 2))
        assert response.model_spec.version.value == 2


def test_without_batching_each_predict_is_one_tf_call(server, client):
    predict_concurrently(client, [([[1, 0, 0, 1]], [0])] * 3)
    assert server.tf_calls("toy") == 3


def test_a_full_queue_refuses_at_once(make_server, connect, models_root):
    server = make_server(
        models_root, batching_config=params(max_batch_size=2, max_enqueued_batches=1), run_when_idle=False
    )
    client = connect(server)
    waiting = ThreadPoolExecutor(2)
    first = waiting.submit(client.predict, [[1, 1, 1, 1]], [0])
    wait_until(lambda: server.batcher.pending() == 1, what="the first request to be queued")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        client.predict(
            [[1, 1, 1, 1], [2, 2, 2, 2]], [0, 0]
        )  # does not fit the open batch; no room for another
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "queue" in caught.value.details() and time.monotonic() - started < 30
    second = waiting.submit(client.predict, [[2, 2, 2, 2]], [1])  # fills the open batch, which then runs
    assert first.result(timeout=60).model_spec.version.value == 2
    assert second.result(timeout=60).model_spec.version.value == 2
    waiting.shutdown()


def test_metadata_calls_are_answered_alone_under_batching(make_server, connect, models_root):
    server = make_server(models_root, batching_config=DEFAULT_BATCHING_CONFIG)
    client = connect(server)

    def metadata():
        request = client.request([[0, 0, 0, 0]], [0], signature_name="metadata")
        request.inputs.clear()
        request.inputs["dummy"].CopyFrom(client.request([[0, 0, 0, 0]], [0]).inputs["mood"])
        return client.send(request).outputs["vocab"].string_val

    with ThreadPoolExecutor(4) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(metadata) for _ in range(4)]]
    assert all(len(r) == 3 for r in results)


def test_batch_threads_run_the_tf_calls(make_server, connect, models_root, monkeypatch):
    """(With TF Serving's scheduling: by default a request alone in the server runs on its own thread.)"""
    server = make_server(models_root, batching_config=params(max_batch_size=1), run_when_idle=False)
    threads, run = [], Servable.run

    def recording_run(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Servable, "run", recording_run)
    connect(server).predict([[1, 1, 1, 1]], [0])
    assert threads and all(name.startswith("batch-") for name in threads)
