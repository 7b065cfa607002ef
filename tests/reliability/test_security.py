"""Security: admin checks in the bot, no code-executing loaders, loopback-only serving, the token kept
out of logs and training, and dependencies pinned by the lock file that setup and CI install from.

Related checks elsewhere (not repeated here): tests/bot/test_discord.py (a non-admin ``train start``
and ``train status``, the token absent from ``bgm bot``'s output), tests/bot/retraining/test_runner.py
(the runner strips the token), tests/test_docker_compose.py (no published ports),
tests/bot/retraining/test_uploads.py.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from bot.tracks.buttons import RemixButton
from model_server import EmbeddedServer
from tests.bot.test_discord import (  # noqa: F401 (restore_discord is a fixture)
    FAKE_TRAIN,
    ServeProcess,
    bot_against,
    copy_models,
    restore_discord,
)
from tests.conftest import write_tunes
from tests.fake_discord import FakeDiscord, Upload

ROOT = Path(__file__).parents[2]
PRODUCT = ("bgm", "composer", "bot", "training", "model_server", "cli")


@pytest.fixture(scope="module")
def security_server(tiny_models, tmp_path_factory):
    server = ServeProcess(copy_models(tiny_models, tmp_path_factory.mktemp("security-models")))
    yield server
    server.stop()


# ------------------------------------------------------------------------------------------------ admins


@pytest.mark.usefixtures("restore_discord")
async def test_every_admin_action_is_refused_to_a_non_admin_and_starts_nothing(security_server, tmp_path):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    data = tmp_path / "data"
    async with (
        FakeDiscord() as fake,
        bot_against(fake, security_server, data, train_command=[*FAKE_TRAIN, "slow"]) as bot,
    ):
        # Nothing running: each admin command refused, ephemerally, before it looks at anything.
        for command, attachments in [
            ("bgm train start", {"file1": Upload.from_path(tune)}),
            ("bgm train start", {}),
            ("bgm train status", {}),
            ("bgm train cancel", {}),
        ]:
            inter = await fake.invoke_slash(command, attachments=attachments, user=fake.regular)
            answer = await fake.wait_for_response(inter)
            assert answer.ephemeral and "Only server admins" in answer.content, command
            assert inter.callback_type == 4 and not inter.followups  # answered at once, not deferred
        config = security_server.models_root / "models.config"
        for command, options in [
            ("bgm model list", None),
            ("bgm model promote", {"version": 1}),
            ("bgm model rollback", None),
        ]:
            inter = await fake.invoke_slash(command, options=options, user=fake.regular)
            answer = await fake.wait_for_response(inter)
            assert answer.ephemeral and "Only server admins" in answer.content, command
            assert inter.callback_type == 4 and not inter.followups
        assert not config.exists()  # no label was written
        await asyncio.sleep(0.3)
        assert not bot.retraining.busy and not data.joinpath("uploads").exists()
        assert not [m for m in fake.channel_messages() if m.interaction is None]
        assert not fake.requests_to("GET", r"^/attachments/")  # the upload was never even downloaded

        # A training running: a non-admin can neither see its details, nor stop it, nor start another.
        await fake.invoke_slash(
            "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
        )
        progress = await fake.wait_for_message(lambda m: "Epoch 1/1" in m.content, timeout=30)
        for command in ("bgm train cancel", "bgm train start", "bgm train status"):
            inter = await fake.invoke_slash(command, user=fake.regular)
            answer = await fake.wait_for_response(inter)
            assert answer.ephemeral and "Only server admins" in answer.content, command
        await asyncio.sleep(0.5)
        assert bot.retraining.runner.busy and "cancelled" not in progress.content
        cancel = await fake.invoke_slash("bgm train cancel", user=fake.manager)  # an admin can
        assert "Stopping" in (await fake.wait_for_response(cancel)).content
        await fake.wait_for(lambda: "cancelled by Manny" in progress.content, 30)


def test_the_only_admin_button_checks_in_its_callback():
    """Regenerate, Variation and Stems are for everyone (they compose, as /bgm compose does). The one admin
    button, Publish anyway, checks the clicker in its callback (``RetrainFlow.publish_anyway``; a
    non-admin's click is refused in tests/bot/test_discord.py). Any other button needs the same."""
    pattern = RemixButton.__discord_ui_compiled_template__.pattern
    assert pattern == r"bgm:(?P<kind>regen|var|stems):(?P<track>\d+)"  # Stems renders, as Variation does
    source = (ROOT / "bot").rglob("*.py")
    dynamic = sorted(str(p.relative_to(ROOT)) for p in source if "DynamicItem" in p.read_text())
    assert dynamic == ["bot/retraining/buttons.py", "bot/tracks/buttons.py"]
    flow = (ROOT / "bot" / "retraining" / "flow.py").read_text()
    check = flow.index("if not is_admin(interaction, self.settings.admin_roles)")
    assert flow.index("async def publish_anyway") < check < flow.index("create_subprocess_exec", check)


# --------------------------------------------------------------------------------- code-executing loaders

# Calls that can run code from the bytes they load (or from a string).
DANGEROUS_MODULES = {"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "cloudpickle", "jsonpickle"}
DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__"}
# Justified exceptions, as (file, what): none so far.
ALLOWED: set[tuple[str, str]] = set()


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {n}" for n in names if n.split(".")[0] in DANGEROUS_MODULES]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        keywords = {k.arg: k.value for k in node.keywords}
        if isinstance(func, ast.Name) and name in DANGEROUS_CALLS:
            found.append(f"{name}()")
        if owner == "joblib" and name == "load":
            found.append("joblib.load()")
        if owner in ("torch", "pd", "pandas") and name in ("load", "read_pickle"):
            found.append(f"{owner}.{name}()")
        if name == "load" and owner in ("np", "numpy"):
            flag = keywords.get("allow_pickle")
            if (
                isinstance(flag, ast.Constant)
                and flag.value is True
                or (flag and not isinstance(flag, ast.Constant))
            ):
                found.append("np.load(allow_pickle=True)")
        if owner == "yaml" and name in ("load", "load_all", "unsafe_load", "full_load"):
            loader = keywords.get("Loader")
            safe = isinstance(loader, ast.Attribute) and loader.attr in ("SafeLoader", "CSafeLoader")
            if name.startswith("unsafe") or name == "full_load" or not safe:
                found.append(f"yaml.{name}()")
        if name == "load_model" and isinstance(keywords.get("safe_mode"), ast.Constant):
            if keywords["safe_mode"].value is False:
                found.append("load_model(safe_mode=False)")
        if "shell" in keywords and isinstance(keywords["shell"], ast.Constant) and keywords["shell"].value:
            found.append(f"{name}(shell=True)")
    return found


def test_no_code_executing_loader_in_the_product():
    files = [p for folder in PRODUCT for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 40
    found = {(str(p.relative_to(ROOT)), what) for p in files for what in findings(p)}
    assert found <= ALLOWED, sorted(found - ALLOWED)


def test_the_loader_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom dill import loads\nimport numpy as np, yaml, joblib\n"
        "np.load(f, allow_pickle=True)\nyaml.load(s)\njoblib.load(f)\neval(x)\nexec(y)\n"
        "subprocess.run(c, shell=True)\nyaml.load(s, Loader=yaml.SafeLoader)\nnp.load(f)\n"
    )
    assert sorted(findings(bad)) == sorted(
        [
            "import pickle",
            "import dill",
            "np.load(allow_pickle=True)",
            "yaml.load()",
            "joblib.load()",
            "eval()",
            "exec()",
            "run(shell=True)",
        ]
    )


# -------------------------------------------------------------------------------------------- serving


def listening(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


# /proc's hex spelling of 127.0.0.1, ::ffff:127.0.0.1 and ::1.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_the_embedded_server_listens_on_loopback_only_by_default(tiny_models):
    with EmbeddedServer(tiny_models) as server:
        assert server.host == "127.0.0.1"
        found = listening(server.port)
        assert found and found <= LOOPBACK, found  # nothing on 0.0.0.0, :: or an outside address


def test_bgm_serve_binds_loopback_unless_told_otherwise():
    source = (ROOT / "cli" / "main.py").read_text()
    assert re.search(r'add_argument\(\s*"--host",\s*default="127\.0\.0\.1"', source)
    assert "0.0.0.0" not in source


def test_compose_keeps_grpc_on_the_compose_network():
    text = (ROOT / "docker-compose.yml").read_text()
    services = re.split(
        r"^  (?=[\w-]+:(?:\s+&[\w-]+)?\s*$)",  # a service's name line, with a YAML anchor or not
        text.split("\nservices:\n", 1)[1].split("\nvolumes:\n")[0],
        flags=re.M,
    )
    server = next(s for s in services if s.startswith("model-server:"))
    assert not re.search(r"^\s+ports:", server, re.M), "the model server must not publish ports on the host"
    assert re.search(r"^\s+expose:\s*\n\s+- \"?8500\"?", server, re.M)
    assert not re.search(r"^\s+ports:", text, re.M)  # no service publishes anything


# ---------------------------------------------------------------------------------------------- token


@pytest.mark.usefixtures("restore_discord")
async def test_the_token_is_never_logged_posted_or_handed_to_training(
    security_server, tmp_path, monkeypatch, caplog
):
    tune = write_tunes(tmp_path / "tunes", count=1)[0]
    dump = tmp_path / "training-env.json"
    script = (
        "import json, os, sys; json.dump({'env': dict(os.environ), 'argv': sys.argv},"
        f" open({str(dump)!r}, 'w')); print('bgm train: no', file=sys.stderr); sys.exit(1)"
    )
    caplog.set_level(logging.DEBUG)  # everything, discord.py's HTTP and gateway debug lines included
    async with FakeDiscord() as fake:
        monkeypatch.setenv("DISCORD_TOKEN", fake.token)
        monkeypatch.setenv("BGM_DISCORD_TOKEN", fake.token)
        async with bot_against(
            fake, security_server, tmp_path / "data", train_command=[sys.executable, "-c", script]
        ):
            await fake.invoke_slash(
                "bgm train start", attachments={"file1": Upload.from_path(tune)}, user=fake.admin
            )
            await fake.wait_for_message(lambda m: "Training failed: no" in m.content, timeout=30)
            inter = await fake.invoke_slash(
                "bgm compose", options={"mood": "nope"}, user=fake.regular, validate=False
            )
            await fake.wait_for_response(inter)
            status = await fake.invoke_slash("bgm status", user=fake.regular)
            await fake.wait_for(lambda: status.original is not None and status.original.embeds, 30)
        posted = [revision.content for m in fake.messages.values() for revision in m.history] + [
            json.dumps(m.embeds) for m in fake.messages.values()
        ]
    token = fake.token
    assert len(caplog.records) > 20  # the debug logs were on
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert token not in logged
    assert not [text for text in posted if token in text]
    seen = json.loads(dump.read_text())
    assert token not in json.dumps(seen)
    assert not {"DISCORD_TOKEN", "BGM_DISCORD_TOKEN"} & set(seen["env"])


def test_no_token_is_committed():
    """A Discord bot token (three base64 parts) in any tracked text file, or a .env file tracked."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    names = tracked.stdout.split()
    assert ".env" not in [Path(n).name for n in names]
    pattern = re.compile(rb"[MNO][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38}")
    hits = [n for n in names if (ROOT / n).is_file() and pattern.search((ROOT / n).read_bytes()[:2_000_000])]
    assert not hits


# ------------------------------------------------------------------------------------------ the lock


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version and not re.search(r"[<>~!*,; ]", version), f"not pinned: {line!r}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_every_installed_distribution_is_pinned_in_the_lock():
    pins = lock()
    installed = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
        for d in importlib.metadata.distributions()
    }
    installed.pop("bgm", None)  # the project itself, installed editable
    for tool in ("pip", "setuptools", "wheel"):  # the installer's own, not the project's dependencies
        installed.pop(tool, None)
    unpinned = sorted(set(installed) - set(pins))
    differ = sorted(
        f"{n} {installed[n]} (lock {pins[n]})" for n in installed if n in pins and pins[n] != installed[n]
    )
    assert not unpinned and not differ, f"unpinned: {unpinned}; other versions: {differ}"


def test_setup_and_ci_install_from_the_lock():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs and all("-c requirements.lock" in line for line in installs), installs
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci
    assert "scripts/setup.sh" in (ROOT / "scripts" / "test.sh").read_text()
