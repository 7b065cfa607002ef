"""docker-compose.yml: valid for the installed compose CLI, and wired the way production needs it.

Runs ``docker compose config`` (Compose v2) or ``docker-compose config`` (v1, Debian's package) and
checks the resolved configuration, so it also catches what interpolation and merging produce. Skipped
where neither CLI is installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
MODELS_CONFIG = ROOT / "models" / "models.config"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        try:
            probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            probe = None
        if probe is not None and probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


COMPOSE = _compose_cli()
pytestmark = pytest.mark.skipif(COMPOSE is None, reason="neither `docker compose` nor `docker-compose` found")


def _run_config(*extra: str, profiles: tuple[str, ...] = ("train",)) -> subprocess.CompletedProcess:
    # --profile train: Compose v2 leaves services of inactive profiles out of `config`.
    chosen = [arg for profile in profiles for arg in ("--profile", profile)]
    env_files = ["--env-file", str(ROOT / "scale.env")] if "scale" in profiles else []
    command = [*COMPOSE, "-f", str(COMPOSE_FILE), *env_files, *chosen, "config", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT)


def _python_script(path: str | None) -> list[str] | None:
    """The interpreter command in ``path``'s shebang if it is a Python script (Compose v1), else None."""
    if not path or not Path(path).is_file():
        return None
    with open(path, "rb") as file:
        first = file.readline(200).decode(errors="replace").strip()
    return first[2:].split() if first.startswith("#!") and "python" in first else None


def _load_yaml(text: str) -> dict:
    """Compose v1 prints only YAML. PyYAML is not a bgm dependency, but Compose v1 is a Python program
    that has it, so its own interpreter converts when this one cannot."""
    try:
        import yaml
    except ImportError:
        python = _python_script(shutil.which(COMPOSE[0]))
        if python is None:
            pytest.skip("the compose config is YAML and no YAML parser is available")
        convert = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        done = subprocess.run(
            [*python, "-c", convert], input=text, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    return yaml.safe_load(text)


def _config(profiles: tuple[str, ...]) -> dict:
    if _python_script(shutil.which(COMPOSE[0])) is None:  # Compose v2 (a Go binary) prints JSON
        done = _run_config("--format", "json", profiles=profiles)
        assert done.returncode == 0, f"{' '.join(COMPOSE)} config failed:\n{done.stderr}"
        return json.loads(done.stdout)
    done = _run_config(profiles=profiles)  # Compose v1 has no --format (it would print its usage)
    assert done.returncode == 0, f"{' '.join(COMPOSE)} config failed:\n{done.stderr}"
    return _load_yaml(done.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    return _config(("train",))


@pytest.fixture(scope="module")
def scale_config() -> dict:
    return _config(("scale",))


def _gpu_reserved(service: dict) -> bool:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return any(
        d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and int(d.get("count", 0)) == 1
        for d in devices
    )


def _mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only), from v1's "src:dst:mode" strings or v2's objects."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, "ro" in mode[0].split(",") if mode else False)
        else:
            mounts[volume["target"]] = (volume.get("source", ""), bool(volume.get("read_only", False)))
    return mounts


def _published(service: dict) -> bool:
    return bool(service.get("ports"))


def test_config_is_valid(config):
    assert {"model-server", "bot", "trainer"} <= set(config["services"])


def test_model_server_matches_the_exporting_tensorflow(config):
    image = config["services"]["model-server"]["image"]
    match = re.fullmatch(r"tensorflow/serving:(\d+)\.(\d+)(?:\.\d+)?-gpu", image)
    assert match, f"model-server image {image!r} is not a versioned tensorflow/serving GPU image"
    # The installed distribution's version is tensorflow.__version__, without the seconds an import takes.
    major, minor = importlib.metadata.version("tensorflow").split(".")[:2]
    assert match.groups() == (major, minor), f"{image} does not serve what TensorFlow {major}.{minor} exports"


def test_model_server_runs_the_production_configuration(config):
    server = config["services"]["model-server"]
    args = " ".join([*(server.get("entrypoint") or []), *(server.get("command") or [])])
    for flag in (
        "--port=8500",
        "--model_config_file=/models/models.config",
        "--model_config_file_poll_wait_seconds=",
        "--allow_version_labels_for_unavailable_models=true",
        "--enable_batching",
        "--batching_parameters_file=/config/batching.config",
        "--file_system_poll_wait_seconds=",
    ):
        assert flag in args, f"model-server lacks {flag}"
    mounts = _mounts(server)
    assert mounts["/models"][1], "the models folder must be mounted read-only in model-server"
    assert Path(mounts["/models"][0]).resolve() == (ROOT / "models").resolve()
    # The config is in the mounted folder: a folder mount sees the file replaced by rename.
    assert MODELS_CONFIG.parent.resolve() == Path(mounts["/models"][0]).resolve()
    base_path = re.search(r'base_path:\s*"([^"]+)"', MODELS_CONFIG.read_text()).group(1)
    assert base_path.startswith("/models/"), f"models.config base_path {base_path} is outside the mount"


def test_model_server_has_a_gpu_and_no_published_port(config):
    services = config["services"]
    assert _gpu_reserved(services["model-server"])
    assert not _published(services["model-server"]), "gRPC must stay on the compose network"
    assert {"8500", "8501"} <= {str(p) for p in services["model-server"].get("expose", [])}
    assert not any(_published(s) for s in services.values()), "no service should publish a host port"


def test_model_server_is_healthy_only_when_the_model_is_available(config):
    server = config["services"]["model-server"]
    test = " ".join(server["healthcheck"]["test"])
    assert "/v1/models/bgm" in test and "AVAILABLE" in test
    rest_port = re.search(r"--rest_api_port=(\d+)", " ".join(server["command"]))
    assert rest_port and f"/{rest_port.group(1)}" in test, "the health check must ask the REST port in use"


def test_bot_waits_for_a_healthy_model_server(config):
    bot = config["services"]["bot"]
    assert bot["depends_on"]["model-server"]["condition"] == "service_healthy"
    environment = bot["environment"]
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    assert environment["BGM_SERVER"] == "model-server:8500"
    assert "DISCORD_TOKEN" in environment
    assert bot["restart"] == "unless-stopped"
    assert "/data" in _mounts(bot)


def test_trainer_is_an_opt_in_gpu_job_publishing_into_the_models_folder(config):
    trainer = config["services"]["trainer"]
    assert trainer["profiles"] == ["train"]
    assert _gpu_reserved(trainer)
    assert trainer["image"] == config["services"]["bot"]["image"]
    source, read_only = _mounts(trainer)["/app/models"]
    assert not read_only and Path(source).resolve() == (ROOT / "models").resolve()
    assert "--models /app/models" in " ".join(trainer["entrypoint"] + (trainer.get("command") or []))


def _environment(service: dict) -> dict:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return environment


def test_the_default_stays_one_process(config):
    services = config["services"]
    for name in {"redis", "postgres", "worker", "model-server-2", "bot-shard-1"} & set(services):
        assert services[name]["profiles"] == ["scale"], name  # Compose v1 lists them all the same
    assert not _environment(services["bot"]).get("BGM_REDIS_URL")  # songs queued in the bot itself


def test_the_scale_profile_adds_redis_postgres_workers_and_a_second_shard(scale_config):
    services = scale_config["services"]
    redis = services["redis"]
    assert "--appendfsync" in redis["command"] and "always" in redis["command"]
    assert "/data" in _mounts(redis)
    assert services["postgres"]["image"].startswith("postgres:")
    worker = services["worker"]
    assert worker["command"] == ["bgm", "worker"] and int(worker["deploy"]["replicas"]) >= 2
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("bot", "bot-shard-1", "worker"):
        environment = _environment(services[name])
        assert environment["BGM_REDIS_URL"] == "redis://redis:6379/0", name
        assert environment["BGM_SERVER"] == "model-server:8500", name
    shards = {_environment(services[name])["BGM_SHARD_IDS"] for name in ("bot", "bot-shard-1")}
    assert shards == {"0", "1"} and _environment(services["bot"])["BGM_SHARD_COUNT"] == "2"
    assert not any(_published(s) for s in services.values()), "no service should publish a host port"


def test_two_model_servers_answer_to_one_name(scale_config):
    services = scale_config["services"]
    second = services["model-server-2"]
    assert second["image"] == services["model-server"]["image"] and _gpu_reserved(second)
    assert "model-server" in second["networks"]["default"]["aliases"]
