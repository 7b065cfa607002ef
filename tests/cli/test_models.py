"""``bgm models list|promote|rollback|prune`` against a real embedded server re-reading the config."""

from __future__ import annotations

import json
import shutil

import pytest

from cli.main import main
from lifecycle.actions import Lifecycle
from lifecycle.config import CONFIG_NAME, read
from model_server import EmbeddedServer


@pytest.fixture
def served(tiny_models, tmp_path):
    """Versions 1 and 2 (the tiny model twice) labelled stable = 1, served with the config polled."""
    root = tmp_path / "models"
    for version in ("1", "2"):
        shutil.copytree(tiny_models / "bgm" / "1", root / "bgm" / version)
    Lifecycle(root).promote(1)
    server = EmbeddedServer(
        root, poll_seconds=0.1, model_config_file=root / CONFIG_NAME, config_poll_seconds=0.1
    )
    server.start()
    yield root, server
    server.stop(grace=0)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_labels_network_and_what_the_server_loaded(served, capsys):
    root, server = served
    code, out, _ = run(capsys, "models", "list", "--models", str(root), "--server", server.address)
    assert code == 0
    header, second, first = out.splitlines()
    assert header.split() == [
        "version",
        "labels",
        "created",
        "size",
        "network",
        "val",
        "ppl",
        "gate",
        "server",
    ]
    assert second.split()[:2] == ["2", "—"] and first.split()[:2] == ["1", "stable"]
    assert "blstm 8, window 32" in first and first.rstrip().endswith("AVAILABLE")


def test_list_as_json(served, capsys):
    root, _ = served
    code, out, _ = run(capsys, "models", "list", "--models", str(root), "--json")
    listed = json.loads(out)
    assert code == 0 and listed["problems"] == []
    assert [(v["version"], v["labels"]) for v in listed["versions"]] == [(2, []), (1, ["stable"])]


def test_promote_then_rollback_with_the_server_following(served, capsys):
    root, server = served
    code, out, _ = run(capsys, "models", "promote", "2", "--models", str(root), "--server", server.address)
    assert code == 0
    assert out.splitlines() == [
        f"{root / CONFIG_NAME}: stable 1 → 2, previous — → 1",
        f"{server.address} now answers stable with version 2.",
    ]
    code, out, _ = run(capsys, "models", "rollback", "--models", str(root), "--server", server.address)
    assert code == 0 and f"{server.address} now answers stable with version 1." in out
    assert read(root / CONFIG_NAME)["bgm"].labels == {"stable": 1}


def test_a_version_the_server_failed_to_load_is_not_promoted(served, capsys):
    root, server = served
    broken = root / "bgm" / ".tmp-3"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"\x00not a model")
    broken.rename(root / "bgm" / "3")
    server.repository.poll_once()
    code, _, err = run(capsys, "models", "promote", "3", "--models", str(root), "--server", server.address)
    assert code == 1 and "Version 3 failed to load on the model server" in err
    assert read(root / CONFIG_NAME)["bgm"].labels == {"stable": 1}


def test_a_malformed_config_is_listed_as_a_problem_and_not_overwritten(served, capsys):
    root, _ = served
    (root / CONFIG_NAME).write_text("model_config_list {")
    code, _, err = run(capsys, "models", "list", "--models", str(root))
    assert code == 0 and "problem: models.config does not parse" in err
    code, _, err = run(capsys, "models", "promote", "2", "--models", str(root))
    assert code == 1 and "Fix or remove" in err
    assert (root / CONFIG_NAME).read_text() == "model_config_list {"


def test_prune_keeps_the_newest_and_the_labelled(served, capsys):
    root, _ = served
    for version in ("3", "4"):
        shutil.copytree(root / "bgm" / "2", root / "bgm" / version)
    code, out, _ = run(capsys, "models", "prune", "--models", str(root), "--keep", "2")
    assert code == 0 and out.startswith("removed versions 2;")
    assert sorted(p.name for p in (root / "bgm").iterdir()) == ["1", "3", "4"]


def test_publish_puts_a_refused_candidate_live_marked_as_forced(served, capsys, tiny_models, tmp_path):
    root, server = served
    candidate = tmp_path / "run" / "candidate"
    shutil.copytree(tiny_models / "bgm" / "1", candidate)
    gate = candidate / "assets.extra" / "bgm" / "gate.json"
    gate.write_text(json.dumps({"accepted": False, "forced": False, "reason": "silent"}))
    code, out, _ = run(capsys, "models", "publish", str(candidate), "--models", str(root))
    assert code == 0 and f"published {candidate} as {root / 'bgm' / '3'}" in out
    assert read(root / CONFIG_NAME)["bgm"].labels == {"stable": 3, "previous": 1}
    assert json.loads((root / "bgm" / "3" / "assets.extra" / "bgm" / "gate.json").read_text())["forced"]


def test_train_exits_3_with_the_reason_when_the_gate_refuses(capsys, monkeypatch, tmp_path):
    import training.train
    from training.gate import Figures, GateRefused, Verdict

    songs = {"pitch_class_entropy": 0.0, "scale_consistency": 1.0, "empty_beat_rate": 0.0}
    verdict = Verdict(
        False,
        "its songs collapse to few pitches (pitch-class entropy 0.00 bits < 1.0)",
        Figures(56.1, songs),
        Figures(4.5, songs | {"pitch_class_entropy": 2.7}, version=2),
        candidate_path="runs/train/candidate",
    )

    def refuse(options):
        raise GateRefused(verdict)

    monkeypatch.setattr(training.train, "train", refuse)
    code, _, err = run(capsys, "train", "--data", str(tmp_path), "--models", str(tmp_path / "models"))
    lines = err.strip().splitlines()
    assert code == 3
    assert lines[0] == f"bgm train: quality gate: refused: {verdict.reason}"
    assert lines[1].startswith(
        "  perplexity 56.10 vs 4.50 (version 2); songs: pitch-class entropy 0.00 vs 2.70 bits"
    )
    assert "the candidate is kept in runs/train/candidate" in lines[2]
