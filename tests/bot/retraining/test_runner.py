"""The training runner against a fake ``bgm train``: progress events, failures, cancel, one at a time."""

import asyncio
import sys
from pathlib import Path

import pytest

from bgm import progress as events
from bot.retraining.flow import wait_until_served
from bot.retraining.runner import (
    Phase,
    TrainingBusy,
    TrainingCancelled,
    TrainingFailed,
    TrainingRefused,
    TrainingRunner,
    TrainProgress,
    TrainRequest,
    advance,
    failure_reason,
)
from composer.errors import ServerUnavailable

FAKE = Path(__file__).with_name("fake_train.py")


def runner(tmp_path, mode, **kwargs) -> TrainingRunner:
    return TrainingRunner([sys.executable, str(FAKE), mode], tmp_path / "models", tmp_path / "work", **kwargs)


def request(tmp_path, epochs=2, from_scratch=False) -> TrainRequest:
    return TrainRequest(tmp_path / "uploads", epochs, from_scratch, "ann")


def test_epoch_events_become_progress():
    progress = advance(TrainProgress("ann", 8), events.EpochStarted(1, 8, 300_000))
    assert (progress.phase, progress.epoch, progress.epochs, progress.windows) == (
        Phase.TRAINING,
        1,
        8,
        300_000,
    )
    ended = events.EpochEnded(1, 8, 4.461, 0.289, 4.273, 0.352, 71.76, 108.0)
    progress = advance(progress, ended)
    assert progress.last_epoch == ended and progress.phase is Phase.TRAINING
    assert advance(progress, events.Published(7, "models/bgm/7", 4.2, 66.7, 90.0)).version == 7


def test_early_stop_and_export_mean_exporting():
    progress = advance(TrainProgress("ann", 2), events.EpochStarted(2, 2, 10))
    assert advance(progress, events.Exporting(2)).phase is Phase.EXPORTING
    assert advance(progress, events.EarlyStopped(2, 2)).phase is Phase.EXPORTING


def test_the_failure_reason_is_trainings_own_sentence():
    stderr = ["W tensorflow noise\n", "bgm train: Too little music to train on.\n", "more noise\n"]
    assert failure_reason(stderr, 1) == "Too little music to train on."
    assert failure_reason(["Traceback...", "ValueError: bad"], 1) == "ValueError: bad"
    assert "signal 9" in failure_reason([], -9)
    assert "code 3" in failure_reason([], 3)


def test_arguments_fine_tune_unless_from_scratch(tmp_path):
    r = runner(tmp_path, "ok", extra_args=["--units", "8"])
    args = r.arguments(request(tmp_path, epochs=3))
    assert args[:6] == [
        "--data",
        str(tmp_path / "uploads"),
        "--models",
        str(tmp_path / "models"),
        "--epochs",
        "3",
    ]
    assert "--json-progress" in args  # the events, not sentences
    assert args[-4:] == ["--from", "latest", "--units", "8"]
    assert "--from" not in r.arguments(request(tmp_path, from_scratch=True))


async def test_a_clean_run_reports_each_epoch_and_the_published_version(tmp_path):
    seen = []
    r = runner(tmp_path, "ok")
    version = await r.run(request(tmp_path, epochs=3), seen.append)
    assert version == 1 and (tmp_path / "models" / "bgm" / "1").is_dir()
    assert [p.epoch for p in seen if p.phase is Phase.TRAINING and not p.last_epoch] == [1]
    assert [p.phase for p in seen][-2:] == [Phase.EXPORTING, Phase.PUBLISHED]
    assert seen[-1].last_epoch.loss == pytest.approx(4.2)
    assert not r.busy and r.last.version == 1


async def test_a_failed_run_says_why_and_publishes_nothing(tmp_path):
    r = runner(tmp_path, "fail")
    with pytest.raises(TrainingFailed) as error:
        await r.run(request(tmp_path), lambda p: None)
    assert error.value.reason == "No usable music found: all 3 files were skipped."
    assert not (tmp_path / "models" / "bgm").exists()
    assert r.last.phase is Phase.FAILED and not r.busy


async def test_a_crash_reports_the_exception_line(tmp_path):
    with pytest.raises(TrainingFailed, match="ValueError: shapes do not match"):
        await runner(tmp_path, "crash").run(request(tmp_path), lambda p: None)


async def test_an_exit_without_publishing_is_a_failure(tmp_path):
    with pytest.raises(TrainingFailed, match="without publishing"):
        await runner(tmp_path, "silent").run(request(tmp_path), lambda p: None)


async def test_cancel_stops_the_process_and_says_who(tmp_path):
    r = runner(tmp_path, "slow")
    started = asyncio.Event()
    run = asyncio.create_task(r.run(request(tmp_path), lambda p: p.epoch and started.set()))
    await asyncio.wait_for(started.wait(), 30)
    assert await r.cancel("bob")
    with pytest.raises(TrainingCancelled, match="cancelled by bob"):
        await asyncio.wait_for(run, 30)
    assert not r.busy and r.last.phase is Phase.CANCELLED
    assert not await r.cancel("bob")  # nothing left to cancel


async def test_only_one_training_runs_at_a_time(tmp_path):
    r = runner(tmp_path, "slow")
    first = asyncio.create_task(r.run(request(tmp_path), lambda p: None))
    await asyncio.sleep(0)
    with pytest.raises(TrainingBusy, match="started by ann"):
        await r.run(request(tmp_path), lambda p: None)
    await r.cancel("ann")
    with pytest.raises(TrainingCancelled):
        await asyncio.wait_for(first, 30)


async def test_a_run_past_its_time_limit_is_stopped(tmp_path):
    r = runner(tmp_path, "slow", timeout_s=1.5)
    with pytest.raises(TrainingFailed, match="ran longer than"):
        await r.run(request(tmp_path), lambda p: None)


async def test_the_token_is_not_handed_to_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "sekrit")
    script = (
        "import os, sys; token = os.environ.get('DISCORD_TOKEN', 'none');"
        " print('bgm train: token=' + token, file=sys.stderr); sys.exit(1)"
    )
    r = TrainingRunner([sys.executable, "-c", script], tmp_path, tmp_path / "work")
    with pytest.raises(TrainingFailed, match="token=none"):
        await r.run(request(tmp_path), lambda p: None)


class FakeClient:
    def __init__(self, answers):
        self.answers = list(answers)

    async def versions(self):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def metadata(self):
        return type("Info", (), {"version": max(self.answers[0])})()


async def test_waiting_for_the_server_rides_out_a_restart():
    client = FakeClient(
        [ServerUnavailable("x"), {1: "AVAILABLE", 2: "LOADING"}, {1: "AVAILABLE", 2: "AVAILABLE"}]
    )
    info = await wait_until_served(client, 2, timeout_s=5, poll_s=0.01)
    assert info.version == 2


async def test_waiting_for_the_server_gives_up_with_a_reason():
    with pytest.raises(TrainingFailed, match="has not loaded it"):
        await wait_until_served(FakeClient([{1: "AVAILABLE"}]), 2, timeout_s=0.1, poll_s=0.01)


async def test_a_run_the_quality_gate_refused_says_so_with_its_figures(tmp_path):
    (tmp_path / "models" / "bgm" / "1").mkdir(parents=True)
    (tmp_path / "models" / "bgm" / "1" / "saved_model.pb").write_bytes(b"x")
    train = runner(tmp_path, "refused")
    with pytest.raises(
        TrainingRefused, match="The quality gate kept the live model: its songs collapse"
    ) as refused:
        await train.run(request(tmp_path), lambda progress: None)
    assert refused.value.gate.live_version == 1 and refused.value.gate.candidate_perplexity == 56.14
    assert train.last.phase is Phase.REFUSED and train.last.gate == refused.value.gate
    assert (tmp_path / "work" / "run" / "candidate" / "saved_model.pb").is_file()
