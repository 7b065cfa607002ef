"""Typed settings from the environment (``BGM_`` prefix) or a ``.env`` file, loaded once in ``main``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGM_", env_file=".env", extra="ignore")

    server: str | None = Field(None, description="HOST:PORT of a model server; none: start the embedded one")
    models_dir: Path = Path("models")
    model_name: str = "bgm"
    soundfont: Path | None = None
    out_dir: Path = Path("out")
    deadline_s: float = Field(10.0, gt=0, description="per Predict call")
    retry_s: float = Field(15.0, ge=0, description="how long UNAVAILABLE is retried")
    version_label: str = Field("stable", description="label new songs start on; empty: the latest")
    keep_versions: int = Field(5, ge=1, description="newest versions kept, besides labelled ones")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve Prometheus metrics on this port (bot, worker); none: off"
    )
    metrics_host: str = Field(
        "127.0.0.1", description="address for the metrics port (0.0.0.0 in a container)"
    )
