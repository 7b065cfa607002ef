"""Version polling: new versions swapped in under traffic, broken ones reported and never served."""

from __future__ import annotations

import logging
import shutil
import threading

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_status_pb2

from model_server.repository import Repository
from model_server.servable import CallCounter, Servable
from tests.model_server.helpers import (
    AVAILABLE,
    END,
    MODEL,
    expected_logits,
    logits,
    publish,
    publish_garbage,
    wait_until,
)

UNLOADING = get_model_status_pb2.ModelVersionStatus.UNLOADING
TOKENS = [[1, 1, 1, 1]]
MOOD = [0]


def served_version(client) -> int:
    return client.predict(TOKENS, MOOD).model_spec.version.value


def test_startup_serves_only_the_highest_version(client):
    assert client.states() == {2: AVAILABLE}


def test_a_published_version_takes_over_without_a_failed_call(server, client, models_root, built):
    failures, seen, stop = [], set(), threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                response = client.predict(TOKENS, MOOD)
                version = response.model_spec.version.value
                assert (logits(response) == expected_logits(TOKENS, MOOD, version)).all()
                seen.add(version)
            except Exception as error:  # any failure at all fails the test
                failures.append(error)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: 2 in seen, what="traffic on version 2")
        publish(models_root, built["3"], 3)
        wait_until(lambda: 3 in seen, what="traffic on version 3")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    wait_until(lambda: client.states() == {2: END, 3: AVAILABLE}, what="version 2 unloaded")


def test_the_old_version_unloads_only_after_its_in_flight_call(
    server, client, models_root, built, monkeypatch
):
    entered, gate, run = threading.Event(), threading.Event(), Servable.run

    def gated_run(self, *args, **kwargs):
        if self.version == 2 and kwargs.get("count", True) and not entered.is_set():
            entered.set()
            gate.wait(60)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Servable, "run", gated_run)
    in_flight: list = []
    caller = threading.Thread(target=lambda: in_flight.append(client.predict(TOKENS, MOOD)))
    caller.start()
    wait_until(entered.is_set, what="a call in flight on version 2")
    publish(models_root, built["3"], 3)
    wait_until(lambda: served_version(client) == 3, what="version 3")
    assert client.states() == {2: UNLOADING, 3: AVAILABLE}
    gate.set()
    caller.join(60)
    assert in_flight[0].model_spec.version.value == 2
    np.testing.assert_allclose(logits(in_flight[0]), expected_logits(TOKENS, MOOD, 2))
    wait_until(lambda: client.states() == {2: END, 3: AVAILABLE}, what="version 2 unloaded")


def test_the_new_version_answers_by_number_and_the_old_one_is_gone(server, client, models_root, built):
    publish(models_root, built["3"], 3)
    wait_until(lambda: served_version(client) == 3, what="version 3")
    assert client.predict(TOKENS, MOOD, version=3).model_spec.version.value == 3
    try:
        client.predict(TOKENS, MOOD, version=2)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
    else:
        raise AssertionError("version 2 still answers")


def test_a_version_with_a_garbage_saved_model_is_reported_and_not_served(server, client, models_root):
    publish_garbage(models_root, 3)
    wait_until(lambda: client.states().get(3) == END, what="version 3 to fail")
    status = client.status(version=3).model_version_status[0]
    assert status.status.error_code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "saved_model.pb" in status.status.error_message
    assert client.states()[2] == AVAILABLE
    assert served_version(client) == 2


def test_a_version_whose_warmup_fails_is_reported_and_not_served(server, client, models_root, built):
    publish(models_root, built["fails_warmup"], 3)
    wait_until(lambda: client.states().get(3) == END, what="version 3 to fail")
    status = client.status(version=3).model_version_status[0]
    assert status.status.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "warm-up" in status.status.error_message and "zero tokens rejected" in status.status.error_message
    assert served_version(client) == 2


def test_a_good_version_after_a_broken_one_is_served(server, client, models_root, built):
    publish_garbage(models_root, 3)
    wait_until(lambda: client.states().get(3) == END, what="version 3 to fail")
    publish(models_root, built["3"], 4)
    wait_until(lambda: served_version(client) == 4, what="version 4")


def test_a_broken_latest_version_at_startup_falls_back_to_the_previous_one(make_server, connect, models_root):
    publish_garbage(models_root, 3)
    client = connect(make_server(models_root))
    assert served_version(client) == 2
    assert client.states()[3] == END


def test_folders_that_are_not_version_numbers_are_ignored(server, client, models_root, built):
    shutil.copytree(built["3"], models_root / MODEL / ".tmp-3")
    shutil.copytree(built["3"], models_root / MODEL / "latest")
    server.repository.poll_once()
    assert client.states() == {2: AVAILABLE}


def test_a_model_folder_without_versions_is_not_served(make_server, connect, tmp_path):
    (tmp_path / "models" / "empty").mkdir(parents=True)
    client = connect(make_server(tmp_path / "models"))
    try:
        client.status("empty")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
    else:
        raise AssertionError("an empty model has a status")


def test_every_model_folder_is_served(make_server, connect, models_root, built):
    shutil.copytree(built["1"], models_root / "other" / "7")
    client = connect(make_server(models_root))
    assert client.predict(TOKENS, MOOD, name="other").model_spec.version.value == 7


def test_a_model_added_while_running_is_picked_up(server, client, models_root, built):
    tmp = models_root / ".tmp-other"
    shutil.copytree(built["1"], tmp / "1")
    tmp.rename(models_root / "other")
    wait_until(lambda: server.repository.current_version("other") == 1, what="model other")
    assert client.predict(TOKENS, MOOD, name="other").model_spec.version.value == 1


def test_removing_the_served_version_falls_back_to_the_one_below(server, client, models_root):
    shutil.rmtree(models_root / MODEL / "2")
    wait_until(lambda: served_version(client) == 1, what="version 1")
    assert client.states() == {1: AVAILABLE, 2: END}


def test_a_version_off_the_bgm_contract_is_served_with_a_warning_naming_the_gap(built, tmp_path, caplog):
    root = tmp_path / "models"
    shutil.copytree(built["1"], root / MODEL / "1")  # the toy's metadata has no moods, primers or info
    repository = Repository(root)
    try:
        with caplog.at_level(logging.WARNING, logger="model_server.repository"):
            repository.poll_once()
        assert repository.current_version(MODEL) == 1  # served all the same, as TF Serving would
    finally:
        repository.close()
    assert "does not follow the bgm model contract" in caplog.text
    assert "'metadata' lacks the outputs ['info', 'moods', 'primers']" in caplog.text


def test_bgm_exports_follow_the_contract(tiny_models, tiny_lstm_models):
    for root in (tiny_models, tiny_lstm_models):
        servable = Servable("bgm", 1, root / "bgm" / "1", CallCounter())
        assert servable.contract_problems() == []
