"""The bot's wiring: endpoints for a proxy, the tree-level error handler, and a token kept out of logs."""

import logging
from types import SimpleNamespace

import discord
import pytest
import yarl
from discord import app_commands

from bot.app import UNEXPECTED, apply_endpoints, create_bot, on_tree_error
from bot.settings import BotSettings
from bot.tracks.s3songs import S3Songs, song_store
from bot.tracks.songs import LocalSongs
from cli.main import main
from composer.client import ModelClient
from composer.errors import ServerUnavailable
from tests.fake_discord import FakeDiscord


@pytest.fixture
def restore_discord(monkeypatch):
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)


def test_endpoints_point_discord_py_at_a_proxy(restore_discord):
    apply_endpoints(
        BotSettings(discord_api_base="http://127.0.0.1:8080", discord_gateway_url="ws://127.0.0.1:8081/")
    )
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:8080/api/v10/users/@me"
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY == yarl.URL("ws://127.0.0.1:8081/")


def test_songs_are_kept_in_the_data_folder_unless_a_bucket_is_named(tmp_path):
    local = song_store(BotSettings(data_dir=tmp_path))
    assert isinstance(local, LocalSongs) and local.root == tmp_path / "songs"
    s3 = song_store(
        BotSettings(data_dir=tmp_path, s3_bucket="b", s3_url="http://127.0.0.1:9", s3_region="eu-west-1")
    )
    assert isinstance(s3, S3Songs) and s3.bucket == "b" and s3.prefix == "songs/"
    assert s3.folder(3) == tmp_path / "song-scratch" / "3"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9" and s3.client.meta.region_name == "eu-west-1"


def test_without_settings_discord_is_left_alone(restore_discord):
    before = discord.http.Route.BASE
    apply_endpoints(BotSettings())
    assert discord.http.Route.BASE == before


class Recorder:
    def __init__(self, done=False):
        self.sent, self.done = [], done

    def is_done(self):
        return self.done

    async def send_message(self, text, ephemeral=False):
        self.sent.append((text, ephemeral))

    async def send(self, text, ephemeral=False):
        self.sent.append((text, ephemeral))


def interaction(done=False):
    recorder = Recorder(done)
    return SimpleNamespace(
        response=recorder, followup=recorder, command=SimpleNamespace(qualified_name="bgm x")
    )


async def test_an_expected_error_is_answered_in_its_own_words_ephemerally():
    inter = interaction()
    error = app_commands.CommandInvokeError(SimpleNamespace(name="compose"), ServerUnavailable("srv:1"))
    await on_tree_error(inter, error)
    assert inter.response.sent == [
        ("❌ The model server at srv:1 is not answering; try again in a minute.", True)
    ]


async def test_an_unexpected_error_is_logged_and_answered_in_general_terms(caplog):
    inter = interaction(done=True)
    error = app_commands.CommandInvokeError(SimpleNamespace(name="compose"), KeyError("boom"))
    with caplog.at_level(logging.ERROR, logger="bot.app"):
        await on_tree_error(inter, error)
    assert inter.followup.sent == [(UNEXPECTED, True)]
    assert "command /bgm x failed" in caplog.text and "KeyError" in caplog.text


async def test_a_refused_token_never_reaches_the_logs(tmp_path, caplog, restore_discord):
    secret = "MTIz.not-the-right-token.xyz"
    async with FakeDiscord() as fake:
        settings = BotSettings(
            discord_token=secret,
            discord_api_base=fake.api_base,
            discord_gateway_url=str(fake.gateway_url),
            data_dir=tmp_path,
        )
        client = ModelClient("127.0.0.1:1")
        bot = create_bot(settings, client)
        with caplog.at_level(logging.DEBUG), pytest.raises(discord.LoginFailure) as error:
            await bot.login(settings.discord_token.get_secret_value())
        await bot.close()
        await client.close()
    assert secret not in caplog.text and secret not in str(error.value)


def test_bgm_bot_without_a_token_says_so(monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("BGM_DISCORD_TOKEN", raising=False)
    with caplog.at_level(logging.ERROR):
        assert main(["bot"]) == 2
    assert "DISCORD_TOKEN is not set" in caplog.text
