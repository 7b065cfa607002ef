"""Promote, roll back, prune: labels moved in models.config, versions listed and removed."""

from __future__ import annotations

import pytest

from lifecycle.actions import Lifecycle, LifecycleError
from lifecycle.config import CONFIG_NAME, read
from tests.lifecycle.conftest import fake_version


def labels(folder) -> dict[str, int]:
    return read(folder / CONFIG_NAME)["bgm"].labels


def test_promoting_in_a_folder_without_a_config_creates_one_serving_every_version(folder):
    change = Lifecycle(folder).promote(2)
    assert change.text() == "stable — → 2"
    model = read(folder / CONFIG_NAME)["bgm"]
    assert model.policy.kind == "all" and model.base_path == "/models/bgm" and model.labels == {"stable": 2}


def test_promoting_moves_stable_and_keeps_the_old_one_as_previous(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(2)
    change = lifecycle.promote(3)
    assert labels(folder) == {"stable": 3, "previous": 2}
    assert change.text() == "stable 2 → 3, previous — → 2"
    assert not lifecycle.promote(3).changed


def test_a_canary_is_set_apart_and_dropped_once_promoted(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(2)
    lifecycle.promote(3, "canary")
    assert labels(folder) == {"stable": 2, "canary": 3}
    lifecycle.promote(3)
    assert labels(folder) == {"stable": 3, "previous": 2}


def test_previous_cannot_be_set_by_hand(folder):
    with pytest.raises(LifecycleError, match="previous follows stable"):
        Lifecycle(folder).promote(1, "previous")


def test_rollback_returns_to_the_previous_stable_version(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(1)
    lifecycle.promote(3)
    change = lifecycle.rollback()
    assert labels(folder) == {"stable": 1}
    assert change.text() == "stable 3 → 1, previous 1 → —"


def test_rollback_without_a_recorded_previous_takes_the_newest_below_stable(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(3)
    lifecycle.rollback()
    assert labels(folder) == {"stable": 2}
    lifecycle.rollback()
    assert labels(folder) == {"stable": 1}
    with pytest.raises(LifecycleError, match="version 1 is the oldest left"):
        lifecycle.rollback()


def test_rollback_skips_versions_the_server_failed_to_load(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(2)
    lifecycle.promote(3)
    lifecycle.rollback(failed={2: "corrupt"})
    assert labels(folder) == {"stable": 1}


def test_a_missing_or_failed_version_is_not_promoted_and_the_config_is_untouched(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(2)
    before = (folder / CONFIG_NAME).read_text()
    with pytest.raises(LifecycleError, match=r"Version 7 is not in .* \(versions there: 1, 2, 3\)"):
        lifecycle.promote(7)
    with pytest.raises(LifecycleError, match="Version 3 failed to load on the model server: bad pb"):
        lifecycle.promote(3, failed={3: "bad pb"})
    assert (folder / CONFIG_NAME).read_text() == before


def test_a_malformed_config_is_reported_and_never_overwritten(folder):
    (folder / CONFIG_NAME).write_text("model_config_list { config {")
    lifecycle = Lifecycle(folder)
    assert "does not parse" in lifecycle.problems()[0]
    with pytest.raises(LifecycleError, match="Fix or remove"):
        lifecycle.promote(2)
    assert (folder / CONFIG_NAME).read_text() == "model_config_list { config {"
    assert [v.labels for v in lifecycle.versions()] == [(), (), ()]  # still listed


def test_versions_are_listed_newest_first_with_labels_network_and_figures(folder):
    lifecycle = Lifecycle(folder)
    lifecycle.promote(2)
    lifecycle.promote(3)
    listed = lifecycle.versions()
    assert [(v.version, v.labels) for v in listed] == [(3, ("stable",)), (2, ("previous",)), (1, ())]
    assert listed[0].network == "lstm 64, window 32, melody, 4/4"
    assert listed[0].figures["val_perplexity"] == pytest.approx(2.3)
    assert listed[0].size_bytes > 0 and listed[0].created > 0


def test_pruning_keeps_the_newest_and_every_labelled_version(folder):
    for version in (4, 5, 6):
        fake_version(folder / "bgm", version)
    lifecycle = Lifecycle(folder, keep=2)
    lifecycle.promote(1)
    lifecycle.promote(3)  # stable 3, previous 1
    assert lifecycle.prune() == [4, 2]
    assert sorted(int(p.name) for p in (folder / "bgm").iterdir() if p.name.isdigit()) == [1, 3, 5, 6]
    assert [p.name for p in (folder / "bgm").iterdir() if p.name.startswith(".")] == []
    assert lifecycle.prune() == []


def test_serving_is_stable_or_else_the_newest_folder(folder):
    lifecycle = Lifecycle(folder)
    assert lifecycle.serving() == 3
    lifecycle.promote(2)
    assert lifecycle.serving() == 2
