"""/bgm model list|promote|rollback through the fake Discord, with the real bot and a real server that
re-reads models.config, a song in flight while the label moves."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from composer.client import ModelClient
from lifecycle.actions import Lifecycle
from lifecycle.config import CONFIG_NAME, read
from model_server import EmbeddedServer
from tests.bot.test_discord import bot_against, compose, fields, has_song, restore_discord  # noqa: F401
from tests.fake_discord import FakeDiscord


@pytest.fixture
def labelled_server(tiny_models, tmp_path):
    """Versions 1 and 2 (the tiny model twice), stable = 1."""
    root = tmp_path / "models"
    for version in ("1", "2"):
        shutil.copytree(tiny_models / "bgm" / "1", root / "bgm" / version)
    Lifecycle(root).promote(1)
    server = EmbeddedServer(
        root, poll_seconds=0.2, model_config_file=root / CONFIG_NAME, config_poll_seconds=0.2
    )
    server.start()
    yield server
    server.stop(grace=0)


async def answer(fake, name: str, user, **options):
    inter = await fake.invoke_slash(name, options=options or None, user=user)
    return await fake.wait_for(
        lambda: (
            inter.followups
            and inter.followups[-1]
            or (inter.original and inter.original.content and inter.original)
        ),
        60,
        what=f"/{name} to answer",
    )


async def test_only_admins_may_manage_versions(labelled_server, tmp_path, restore_discord):  # noqa: F811
    async with FakeDiscord() as fake, bot_against(fake, labelled_server, tmp_path / "data"):
        for name, options in (
            ("bgm model list", {}),
            ("bgm model promote", {"version": 2}),
            ("bgm model rollback", {}),
        ):
            inter = await fake.invoke_slash(name, options=options or None, user=fake.regular)
            refusal = await fake.wait_for_response(inter)
            assert refusal.ephemeral
            assert "Only server admins (Manage Server) can manage the model versions." in refusal.content
        assert read(labelled_server.models_root / CONFIG_NAME)["bgm"].labels == {"stable": 1}


@pytest.fixture
def held_predictions(monkeypatch):
    """Every Predict waits for ``release`` (set it to let songs go on); ``reached`` tells one is waiting.

    So a song is surely in flight, mid-composition on its pinned version, however fast the machine.
    """
    reached, release = asyncio.Event(), asyncio.Event()
    predict = ModelClient.predict

    async def held(self, *args, **kwargs):
        reached.set()
        await release.wait()
        return await predict(self, *args, **kwargs)

    monkeypatch.setattr(ModelClient, "predict", held)
    return reached, release


async def test_list_promote_and_rollback_with_a_song_in_flight(
    labelled_server,
    tmp_path,
    restore_discord,  # noqa: F811
    held_predictions,
):
    root = labelled_server.models_root
    reached, release = held_predictions
    async with FakeDiscord() as fake, bot_against(fake, labelled_server, tmp_path / "data"):
        listed = await answer(fake, "bgm model list", fake.manager)
        assert listed.ephemeral
        assert "**2** · blstm 8, window 32" in listed.content and "**1** · `stable`" in listed.content

        song = await fake.invoke_slash(
            "bgm compose", options={"mood": "calm", "length": "short", "seed": 4}, user=fake.regular
        )
        await asyncio.wait_for(reached.wait(), 120)  # composing on version 1, its first Predict held
        promoted = await answer(fake, "bgm model promote", fake.manager, version=2)
        assert not promoted.ephemeral
        assert promoted.content.startswith(
            "✅ Model version 2 is live (stable 1 → 2, previous — → 1; by Manny)"
        )
        assert read(root / CONFIG_NAME)["bgm"].labels == {"stable": 2, "previous": 1}
        assert not song.original.attachments

        release.set()
        await fake.wait_for(lambda: has_song(song.original), 180, what="the song in flight")
        assert fields(song.original)["Model version"] == "1"  # finished on the version it began on
        _, after = await compose(fake, fake.regular, mood="calm", length="short", seed=4)
        assert fields(after)["Model version"] == "2"

        again = await answer(fake, "bgm model promote", fake.manager, version=2)
        assert again.content == "Nothing to change: version 2 is already stable."
        missing = await answer(fake, "bgm model promote", fake.manager, version=9)
        assert missing.content.startswith("❌ Version 9 is not in")

        rolled = await answer(fake, "bgm model rollback", fake.admin)
        assert rolled.content.startswith("✅ Model version 1 is live (stable 2 → 1, previous 1 → —; by Ada)")
        status = await fake.invoke_slash("bgm status", user=fake.regular)
        shown = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        assert {f["name"]: f["value"] for f in shown[0]["fields"]}["Model version"] == "1"
        fake.assert_no_unknown_routes()


async def test_a_broken_config_is_shown_in_status_and_list(labelled_server, tmp_path, restore_discord):  # noqa: F811
    (labelled_server.models_root / CONFIG_NAME).write_text("model_config_list {")
    async with FakeDiscord() as fake, bot_against(fake, labelled_server, tmp_path / "data"):
        status = await fake.invoke_slash("bgm status", user=fake.regular)
        shown = await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        values = {f["name"]: f["value"] for f in shown[0]["fields"]}
        assert values["Model version"] == "1"  # the server kept serving what it served
        assert "does not parse" in values["Model config"]
        listed = await answer(fake, "bgm model list", fake.manager)
        assert "⚠️ models.config does not parse" in listed.content
        refused = await answer(fake, "bgm model rollback", fake.manager)
        assert refused.content.startswith("❌ ") and "Fix or remove" in refused.content
