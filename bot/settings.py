"""The bot's typed settings: ``bgm.settings.Settings`` plus Discord, limits and the data folder.

Everything comes from the environment (``BGM_`` prefix) or a ``.env`` file, except the three
Discord names that deployments already use unprefixed (``DISCORD_TOKEN``, ``DISCORD_API_BASE``,
``DISCORD_GATEWAY_URL``; the ``BGM_`` spelling works too).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from bgm.settings import Settings
from bgm.training_defaults import DEFAULTS
from bot.tracks.database import records_url
from bot.tracks.songs import Retention

API_VERSION_PATH = re.compile(r"/api/v\d+/?$")


def _unprefixed(name: str) -> AliasChoices:
    return AliasChoices(name, f"BGM_{name}")


def _id_list(value):
    """``"1, 2"`` or ``[1, 2]``: comma-separated ids are what people type into a ``.env`` file."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    return value


def _word_list(value):
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class BotSettings(Settings):
    # The token is a SecretStr: its repr, str and any error that prints the settings show ********.
    discord_token: SecretStr = Field(SecretStr(""), validation_alias=_unprefixed("DISCORD_TOKEN"))
    discord_api_base: str | None = Field(
        None,
        validation_alias=_unprefixed("DISCORD_API_BASE"),
        description="REST base of a Discord-compatible proxy, e.g. http://127.0.0.1:8080/api/v10",
    )
    discord_gateway_url: str | None = Field(
        None, validation_alias=_unprefixed("DISCORD_GATEWAY_URL"), description="e.g. ws://127.0.0.1:8080/"
    )
    guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="guilds to sync commands to at once; none: global sync (slow)"
    )
    sync_commands: bool = True
    admin_roles: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="role names allowed to train, besides Manage Server"
    )
    data_dir: Path = Field(Path("bot-data"), description="SQLite record, uploads and rendered songs")
    database_url: str | None = Field(
        None,
        description="the track record: postgresql://user:password@host/db (shared by bot processes); "
        "none: the SQLite file <data_dir>/tracks.sqlite3",
    )
    audio_format: str = Field("ogg", pattern="^(ogg|mp3|wav)$")
    early_audio: bool = Field(
        True, description="post the song's opening as audio while the rest is composed and rendered"
    )

    # Rendered songs (<data_dir>/songs): how long they are kept for Stems; none of the three: forever.
    keep_songs_days: float | None = Field(None, gt=0, description="remove songs older than this")
    keep_songs: int | None = Field(None, ge=1, description="keep at most this many songs, the newest")
    keep_songs_mb: float | None = Field(None, gt=0, description="keep at most this many MB of songs")
    prune_every_s: float = Field(3600.0, gt=0, description="how often the limits above are applied")
    # ... or in an S3-compatible bucket (bot/tracks/s3songs.py), for processes on several machines.
    s3_bucket: str | None = Field(None, description="keep songs in this bucket; none: <data_dir>/songs")
    s3_url: str | None = Field(None, description="the store's endpoint, e.g. http://minio:9000; none: AWS S3")
    s3_region: str | None = Field(None, description="none: boto3's (AWS_DEFAULT_REGION, ~/.aws)")
    s3_prefix: str = Field("songs/", description="a song's objects are <prefix><track id>/<file>")
    # None: boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None  # shown as ******** wherever the settings are printed

    # The composing queue.
    queue_concurrency: int = Field(2, ge=1)
    queue_max: int = Field(20, ge=1, description="songs waiting at most, all users together")
    queue_per_user: int = Field(3, ge=1, description="songs one user may have waiting or in progress")
    cooldown_s: float = Field(10.0, ge=0, description="between two requests of one user")

    # Past one machine (docs/scaling.md): none of these set, everything runs in this process.
    redis_url: str | None = Field(
        None, description="redis://host:6379/0: songs queued in Redis, made by `bgm worker` processes"
    )
    job_timeout_s: float = Field(600.0, gt=0, description="a song's deadline, in a worker as in process")
    job_lease_s: float = Field(
        15.0, ge=2, description="a worker renews its hold on a song this often; killed, the song moves on"
    )
    shard_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Discord shards this process runs (with shard_count)"
    )
    shard_count: int | None = Field(None, ge=1, description="shards of the whole bot, all processes together")

    # The radio (/bgm radio): songs composed one after another in a voice channel.
    radio_max: int = Field(4, ge=0, description="radios playing at once in this process")
    radio_length: str = Field("medium", pattern="^(short|medium|long)$", description="after the first song")
    radio_tempo: int | None = Field(None, ge=30, le=240, description="beats per minute (default: the mood's)")
    radio_crossfade_s: float = Field(2.0, ge=0.02, le=10)
    radio_empty_s: float = Field(60.0, gt=0, description="leave a voice channel that stayed empty this long")
    radio_reconnect_s: float = Field(40.0, gt=0, description="give up on a voice connection down this long")
    radio_connect_s: float = Field(30.0, gt=0, description="to join a voice channel")

    # Uploads for /bgm training start.
    upload_max_files: int = Field(3, ge=1, le=10)
    upload_max_bytes: int = Field(8 * 1024 * 1024, gt=0, description="per attached file")
    upload_max_members: int = Field(500, ge=1, description="files in one zip")
    upload_max_expanded: int = Field(64 * 1024 * 1024, gt=0, description="bytes a zip may expand to")

    # Training runs as `<train_command> --data ... --models ... --epochs N [--from latest] <train_args>`.
    train_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [sys.executable, "-m", "cli.main", "train"]
    )
    models_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [sys.executable, "-m", "cli.main", "models"],
        description="`bgm models`, for the Publish anyway button",
    )
    train_args: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="extra flags, e.g. --units 64 --samples-per-epoch 100000"
    )
    # `bgm train`'s own default, so /bgm train from_scratch trains the shipped model's recipe.
    train_epochs: int = Field(DEFAULTS.epochs, ge=1)
    train_max_epochs: int = Field(50, ge=1)
    train_timeout_s: float = Field(6 * 3600, gt=0)
    live_wait_s: float = Field(180.0, gt=0, description="how long to wait for the server to load a version")

    _split_ids = field_validator("guild_ids", "shard_ids", mode="before")(_id_list)
    _split_words = field_validator("admin_roles", mode="before")(_word_list)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value):
        if value:
            records_url(value)  # a ValueError in one sentence, when the settings are loaded
        return value or None

    @field_validator("s3_prefix")
    @classmethod
    def _folder_prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self):
        if self.s3_url and not self.s3_bucket:
            raise ValueError("BGM_S3_URL is set without BGM_S3_BUCKET: name the bucket to keep songs in")
        return self

    @property
    def retention(self) -> Retention:
        return Retention(
            self.keep_songs_days * 86400 if self.keep_songs_days else None,
            self.keep_songs,
            int(self.keep_songs_mb * 1024 * 1024) if self.keep_songs_mb else None,
        )

    @property
    def records(self) -> str | Path:
        """Where the track store keeps its records."""
        return self.database_url or self.data_dir / "tracks.sqlite3"

    @field_validator("train_command", "train_args", "models_command", mode="before")
    @classmethod
    def _split_command(cls, value):
        # A shell-like string in the environment; JSON lists also work for arguments with spaces.
        if isinstance(value, str):
            return json.loads(value) if value.lstrip().startswith("[") else shlex.split(value)
        return value

    @field_validator("redis_url", "shard_count", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        # docker-compose passes `${BGM_REDIS_URL:-}` as an empty string when the variable is not set.
        return None if value == "" else value

    @model_validator(mode="after")
    def _shards_fit(self) -> BotSettings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("BGM_SHARD_IDS needs BGM_SHARD_COUNT (the shards of all processes together)")
        if self.shard_count is not None and any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(f"each of BGM_SHARD_IDS must be between 0 and {self.shard_count - 1}")
        return self

    @property
    def api_base(self) -> str | None:
        """The REST base with its ``/api/vN`` path; a bare origin gets ``/api/v10``."""
        if not self.discord_api_base:
            return None
        base = self.discord_api_base.rstrip("/")
        return base if API_VERSION_PATH.search(base) else f"{base}/api/v10"
