"""Faults in training: the process killed mid-epoch; the disk full while exporting; a killed exporter.

Whatever happens, the live model stays as it was, the server never sees a half-written version, the
temporary files go, and the next training (or publish) works.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import subprocess
import time

import pytest

from bot.retraining.runner import Phase
from model_server import EmbeddedServer
from tests.conftest import write_tunes
from tests.fake_discord import FakeDiscord, Upload
from tests.reliability.conftest import bot_against
from training import export
from training.publish import TMP_PREFIX, publish, sweep, versions
from training.train import TrainingError, TrainOptions, train


def leftovers(model_dir):
    return sorted(p.name for p in model_dir.iterdir() if p.name.startswith("."))


async def test_training_killed_mid_epoch_leaves_the_live_model_and_the_next_one_works(
    own_serve, tmp_path, restore_discord
):
    model_dir = own_serve.models_root / "bgm"
    tunes = write_tunes(tmp_path / "tunes", count=3)
    files = {f"file{i}": Upload.from_path(path) for i, path in enumerate(tunes, 1)}
    async with FakeDiscord() as fake, bot_against(fake, own_serve, tmp_path / "data") as bot:
        runner = bot.retraining.runner
        quick = [*runner.extra_args, "--gate-data", str(tmp_path / "tunes")]  # the quality gate's reference
        runner.extra_args = [*quick, "--samples-per-epoch", "200000"]  # an epoch long enough to be killed in
        await fake.invoke_slash("bgm train start", attachments=files, user=fake.manager)
        training = Phase.TRAINING
        await fake.wait_for(lambda: runner.current is not None and runner.current.phase is training, 120)
        await asyncio.sleep(1.0)
        assert runner.current.phase is Phase.TRAINING  # still inside the epoch
        os.killpg(runner._process.pid, signal.SIGKILL)  # as the OOM killer would: no clean-up of its own

        failed = await fake.wait_for_message(lambda m: "❌" in m.content, timeout=30)
        assert "Training failed: the training process was killed by signal 9" in failed.content
        assert "The live model is unchanged." in failed.content
        assert versions(model_dir) == [1] and leftovers(model_dir) == []
        assert (await bot.model_client.metadata()).version == 1

        # The next /bgm train (on the files uploaded before) publishes version 2, which goes live.
        runner.extra_args = quick
        again = await fake.invoke_slash("bgm train start", user=fake.manager)
        await fake.wait_for(lambda: again.followups, 30, what="the training to start")
        live = await fake.wait_for_message(lambda m: "Model version 2 is live" in m.content, timeout=300)
        assert live is not None and versions(model_dir) == [1, 2] and leftovers(model_dir) == []
        assert not [p.name for p in (tmp_path / "data" / "training").rglob("*tmp*")]


@pytest.fixture
def watched(tiny_models, tmp_path):
    """A models folder with version 1 and an embedded server polling it every 50 ms."""
    from tests.reliability.conftest import copy_models

    models = copy_models(tiny_models, tmp_path / "models")
    server = EmbeddedServer(models, poll_seconds=0.05)
    server.start()
    yield server
    server.stop(grace=0)


def test_a_full_disk_while_exporting_leaves_no_trace(watched, tmp_path, monkeypatch):
    model_dir = watched.models_root / "bgm"
    seen: list[dict] = []
    good = watched.models_root / "bgm" / "1"

    def export_until_the_disk_fills(model, config, vocab, primers, figures, path):
        # The first files of a version land in its hidden folder, and the server polls meanwhile...
        (path / "variables").mkdir(parents=True)
        (path / "saved_model.pb").write_bytes((good / "saved_model.pb").read_bytes())
        for _ in range(10):
            seen.append({v: r.state for v, r in watched.repository.version_states("bgm")})
            time.sleep(0.05)
        # ...then the disk fills up halfway through the weights.
        with open(path / "variables" / "variables.data-00000-of-00001", "wb") as weights:
            weights.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path / "variables"))

    monkeypatch.setattr(export, "export", export_until_the_disk_fills)
    tunes = tuple(write_tunes(tmp_path / "tunes", count=3))
    options = TrainOptions(
        data=tunes,
        gate_data=tunes,
        models_dir=watched.models_root,
        run_dir=tmp_path / "run",
        cache_dir=tmp_path / "cache",
        from_latest=True,
        epochs=1,
        samples_per_epoch=256,
        batch_size=64,
        primers_per_mood=2,
        workers=1,
        progress=False,
    )
    with pytest.raises(TrainingError, match="The disk is full: the new version could not be written"):
        train(options)
    assert seen and all(set(states) == {1} for states in seen)
    assert versions(model_dir) == [1] and leftovers(model_dir) == []
    assert watched.repository.current_version("bgm") == 1

    # With space again, the next publish is version 2 (nothing half-done in the way) and is served.
    assert publish(model_dir, lambda folder: shutil.copytree(good, folder)) == 2
    for _ in range(100):
        if watched.repository.current_version("bgm") == 2:
            break
        time.sleep(0.05)
    assert watched.repository.current_version("bgm") == 2 and leftovers(model_dir) == []


def test_the_folder_of_an_exporter_killed_outright_is_swept_by_the_next_publish(tmp_path):
    (tmp_path / "1").mkdir()
    dead = subprocess.Popen(["true"])  # a process id that no longer runs
    dead.wait()
    killed = tmp_path / f"{TMP_PREFIX}{dead.pid}-0123abcd"
    (killed / "variables").mkdir(parents=True)
    (killed / "saved_model.pb").write_bytes(b"half")
    writing = tmp_path / f"{TMP_PREFIX}{os.getpid()}-4567ef"  # a publisher still at work: left alone
    writing.mkdir()

    def write(folder):
        folder.mkdir()
        (folder / "saved_model.pb").write_bytes(b"whole")

    assert publish(tmp_path, write) == 2
    assert not killed.exists() and writing.exists()
    assert versions(tmp_path) == [1, 2] and sweep(tmp_path) == []
