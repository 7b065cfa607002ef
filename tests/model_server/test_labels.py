"""models.config on the embedded server: version policies, labels, and the file re-read while serving,
as TF Serving does with --model_config_file_poll_wait_seconds."""

from __future__ import annotations

import threading

import grpc
import pytest

from lifecycle.config import CONFIG_NAME, ModelEntry, Policy, render, write
from tests.model_server.helpers import (
    AVAILABLE,
    MODEL,
    Client,
    expected_logits,
    logits,
    publish,
    publish_garbage,
    wait_until,
)

TOKENS = [[1, 1, 1, 1]]
MOOD = [0]


ALL = Policy("all")


def configure(root, labels: dict[str, int], policy: Policy = ALL, check: bool = True):
    entry = {MODEL: ModelEntry(MODEL, "/models/toy", policy, labels)}
    if check:
        write(root / CONFIG_NAME, entry)
    else:  # what a careless hand might write: bgm's own writer would refuse it
        (root / CONFIG_NAME).write_text(render(entry))


@pytest.fixture
def labelled(make_server, models_root):
    """Versions 1 and 2 of toy, stable = 1, the config re-read every 0.2 s."""
    configure(models_root, {"stable": 1})
    return make_server(models_root, model_config_file=models_root / CONFIG_NAME, config_poll_seconds=0.2)


def by_label(client, label: str) -> int:
    return client.predict(TOKENS, MOOD, version_label=label).model_spec.version.value


def test_a_label_names_the_version_that_answers(labelled, connect):
    client = connect(labelled)
    reply = client.predict(TOKENS, MOOD, version_label="stable")
    assert reply.model_spec.version.value == 1
    assert (logits(reply) == expected_logits(TOKENS, MOOD, 1)).all()
    # Policy "all": both versions are loaded; without a label the newest answers, as in TF Serving.
    assert client.predict(TOKENS, MOOD).model_spec.version.value == 2
    assert client.predict(TOKENS, MOOD, version=1).model_spec.version.value == 1


def test_an_unknown_label_is_invalid(labelled, connect):
    with pytest.raises(grpc.RpcError) as caught:
        by_label(connect(labelled), "canary")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "Unrecognized servable version label: canary"


def test_moving_a_label_mid_traffic_fails_no_call(labelled, connect, models_root):
    client = connect(labelled)
    seen, errors, stop = set(), [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                seen.add(by_label(client, "stable"))
            except grpc.RpcError as error:
                errors.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: 1 in seen, what="calls on version 1")
        configure(models_root, {"stable": 2, "previous": 1})
        wait_until(lambda: 2 in seen, what="the label to move")
        configure(models_root, {"stable": 1})  # and back: a rollback
        wait_until(lambda: by_label(client, "stable") == 1, what="the rollback")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == [] and seen == {1, 2}


def test_a_specific_policy_loads_only_the_versions_it_names(make_server, models_root, connect):
    configure(models_root, {"stable": 1}, Policy("specific", versions=(1,)))
    server = make_server(models_root, model_config_file=models_root / CONFIG_NAME)
    assert server.repository.loaded_versions(MODEL) == [1]
    assert connect(server).predict(TOKENS, MOOD).model_spec.version.value == 1


def test_a_malformed_config_is_refused_and_the_old_one_kept(labelled, connect, models_root):
    (models_root / CONFIG_NAME).write_text("model_config_list { config { name: ")
    wait_until(lambda: labelled.repository.config_problem, what="the problem to be noticed")
    assert "does not parse" in labelled.repository.config_problem
    assert by_label(connect(labelled), "stable") == 1
    configure(models_root, {"stable": 2})
    wait_until(lambda: labelled.repository.config_problem is None, what="the fixed config")
    assert by_label(connect(labelled), "stable") == 2


def test_a_label_moved_to_a_missing_version_is_refused_until_it_is_published(
    labelled, connect, models_root, built
):
    configure(models_root, {"stable": 3}, check=False)
    wait_until(lambda: labelled.repository.config_problem, what="the refusal")
    assert labelled.repository.config_problem == (
        "Request to assign label to version 3 of model toy, which is not currently available for inference"
    )
    assert by_label(connect(labelled), "stable") == 1  # still serving what it served
    publish(models_root, built["3"], 3)  # loaded by policy all, then the label applies at the next poll
    wait_until(lambda: labelled.repository.labels(MODEL) == {"stable": 3}, what="the label to apply")
    assert labelled.repository.config_problem is None
    assert by_label(connect(labelled), "stable") == 3


def test_a_label_moved_to_a_version_that_failed_to_load_is_refused(labelled, connect, models_root):
    publish_garbage(models_root, 3)
    wait_until(
        lambda: 3 in {s.version for s in connect(labelled).status().model_version_status}, what="v3 tried"
    )
    configure(models_root, {"stable": 3}, check=False)
    wait_until(lambda: labelled.repository.config_problem, what="the refusal")
    assert "version 3 of model toy, which is not currently available" in labelled.repository.config_problem
    assert by_label(connect(labelled), "stable") == 1


def test_models_the_config_does_not_name_are_not_served(make_server, models_root, connect):
    (models_root / "other").mkdir()
    (models_root / "other" / "1").symlink_to(models_root / MODEL / "1", target_is_directory=True)
    configure(models_root, {"stable": 1})
    server = make_server(models_root, model_config_file=models_root / CONFIG_NAME)
    with pytest.raises(grpc.RpcError) as caught:
        connect(server).predict(TOKENS, MOOD, name="other")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("label", "served"), [("stable", 1), ("", 2), ("canary", 2)])
def test_a_one_song_server_loads_only_the_version_its_label_names(models_root, label, served):
    """``bgm compose``'s embedded server: the labelled version alone (the latest when the label is ""
    or unknown, as the client then asks), and the folder's own config left as it was."""
    from model_server import local_server

    configure(models_root, {"stable": 1, "previous": 2})
    before = (models_root / CONFIG_NAME).read_text()
    with local_server(models_root, MODEL, batching_config=None, only_label=label) as address:
        client = Client(int(address.rsplit(":", 1)[1]))
        try:
            assert client.states() == {served: AVAILABLE}
            assert client.predict(TOKENS, MOOD).model_spec.version.value == served
            if label == "stable":
                assert by_label(client, "stable") == 1
            with pytest.raises(grpc.RpcError) as caught:
                by_label(client, "previous")
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            client.close()
    assert (models_root / CONFIG_NAME).read_text() == before


def test_a_one_song_server_on_a_broken_config_serves_as_the_folder_would(models_root):
    """An unreadable models.config is not narrowed: the server refuses it as always (serving the
    folder's latest version by TF Serving's default policy) rather than the command failing."""
    from model_server import local_server

    (models_root / CONFIG_NAME).write_text("model_config_list { config { name: ")
    with local_server(models_root, MODEL, batching_config=None, only_label="stable") as address:
        client = Client(int(address.rsplit(":", 1)[1]))
        try:
            assert client.predict(TOKENS, MOOD).model_spec.version.value == 2
        finally:
            client.close()
