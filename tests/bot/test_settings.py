"""The bot's settings: environment names, lists typed by hand, and a token that stays secret."""

import pytest

from bot.settings import BotSettings


def test_discord_names_are_read_without_a_prefix(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:9000")
    monkeypatch.setenv("DISCORD_GATEWAY_URL", "ws://127.0.0.1:9000/")
    settings = BotSettings()
    assert settings.discord_token.get_secret_value() == "abc.def"
    assert settings.api_base == "http://127.0.0.1:9000/api/v10"
    assert settings.discord_gateway_url == "ws://127.0.0.1:9000/"


def test_an_api_base_with_a_version_is_kept():
    assert BotSettings(discord_api_base="http://h/api/v9/").api_base == "http://h/api/v9"


def test_lists_can_be_typed_as_comma_separated_or_shell_words(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGM_GUILD_IDS", "1, 2")
    monkeypatch.setenv("BGM_ADMIN_ROLES", "DJ, bgm admin")
    monkeypatch.setenv("BGM_TRAIN_ARGS", "--units 8 --samples-per-epoch 256")
    settings = BotSettings()
    assert settings.guild_ids == [1, 2]
    assert settings.admin_roles == ["DJ", "bgm admin"]
    assert settings.train_args == ["--units", "8", "--samples-per-epoch", "256"]


def test_a_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\nBGM_QUEUE_MAX=5\n")
    settings = BotSettings()
    assert settings.discord_token.get_secret_value() == "from-file" and settings.queue_max == 5


def test_the_token_never_shows_in_reprs_or_dumps():
    settings = BotSettings(discord_token="very-secret-token")
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-token" not in text


def test_the_default_is_one_process_and_compose_s_empty_variables_keep_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("BGM_REDIS_URL", "BGM_SHARD_COUNT", "BGM_SHARD_IDS"):
        monkeypatch.setenv(name, "")  # `${BGM_REDIS_URL:-}` in docker-compose.yml, unset
    settings = BotSettings()
    assert settings.redis_url is None and settings.shard_count is None and settings.shard_ids == []


def test_shards_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGM_SHARD_IDS", "2,3")
    monkeypatch.setenv("BGM_SHARD_COUNT", "4")
    settings = BotSettings()
    assert (settings.shard_ids, settings.shard_count) == ([2, 3], 4)


def test_shard_ids_need_a_count_that_holds_them():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="BGM_SHARD_IDS needs BGM_SHARD_COUNT"):
        BotSettings(shard_ids=[0])
    with pytest.raises(ValidationError, match="each of BGM_SHARD_IDS must be between 0 and 1"):
        BotSettings(shard_ids=[2], shard_count=2)


def test_the_s3_song_store_is_read_from_the_environment_with_its_secret_hidden(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGM_S3_BUCKET", "bgm-songs")
    monkeypatch.setenv("BGM_S3_URL", "http://minio:9000")
    monkeypatch.setenv("BGM_S3_PREFIX", "/bot/songs")
    monkeypatch.setenv("BGM_S3_SECRET_ACCESS_KEY", "very-secret-key")
    settings = BotSettings()
    assert settings.s3_bucket == "bgm-songs" and settings.s3_url == "http://minio:9000"
    assert settings.s3_prefix == "bot/songs/"  # a folder, whatever slashes were typed
    assert settings.s3_secret_access_key.get_secret_value() == "very-secret-key"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "very-secret-key" not in text


def test_an_s3_endpoint_without_a_bucket_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="BGM_S3_URL is set without BGM_S3_BUCKET"):
        BotSettings(s3_url="http://minio:9000")
