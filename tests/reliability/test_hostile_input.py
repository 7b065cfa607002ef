"""Hostile input through the real bot: 200+ broken and malicious uploads to ``/bgm train start`` and
command options at and past their limits, each answered clearly, with the bot up, nothing written
outside its data folder and the live model untouched. Then the saved uploads go through training's
real parser, and hypothesis fuzzes the validator directly.

The outcome table: ``.venv/bin/pytest tests/reliability/test_hostile_input.py -s -k uploads``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgm.files import MUSIC_SUFFIXES
from bot.retraining.uploads import UploadLimits, UploadRejected, inspect
from tests.bot.test_discord import (  # noqa: F401 (restore_discord is a fixture)
    FAKE_TRAIN,
    ServeProcess,
    bot_against,
    copy_models,
    restore_discord,
)
from tests.fake_discord import FakeAttachment, FakeDiscord
from tests.reliability import hostile

ROOT = Path(__file__).parents[2]
SUFFIXES = "|".join(map(re.escape, MUSIC_SUFFIXES))
SAVED = re.compile(rf"^uploads/\d+/\d{{8}}-\d{{6}}-[0-9a-f]{{8}}/\d{{4}}({SUFFIXES})$")
STATUS_EVERY = 50  # cases between two /bgm status checks


@pytest.fixture(scope="module")
def hostile_server(tiny_models, tmp_path_factory):
    server = ServeProcess(copy_models(tiny_models, tmp_path_factory.mktemp("hostile-models")))
    yield server
    server.stop()


def tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every path under ``root`` (but ``skip``) with a digest of what it is: file bytes, link target, dir."""
    found = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"link:{path.readlink()}"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def attach(fake: FakeDiscord, name: str, data: bytes) -> FakeAttachment:
    """A user's attachment called ``name``, downloadable whatever the name holds.

    The fake's CDN puts the file name in the URL, and a name like ``../../x.mid`` would not survive
    the trip (Discord itself sanitizes names); the bot gets the hostile name and a URL of a twin.
    """
    channel = fake.channel.id
    twin_id, real_id = fake.snowflake(), fake.snowflake()
    url = f"{fake.http_base}/attachments/{channel}/{twin_id}/upload.bin"
    fake.attachments[twin_id] = FakeAttachment(twin_id, "upload.bin", data, url, from_user=True)
    attachment = FakeAttachment(real_id, name, data, url, "application/octet-stream", from_user=True)
    attachment.ephemeral = True
    fake.attachments[real_id] = attachment
    return attachment


async def status_answers(fake: FakeDiscord) -> bool:
    inter = await fake.invoke_slash("bgm status", user=fake.regular)
    embeds = await fake.wait_for(lambda: inter.original is not None and inter.original.embeds, 30)
    return any(f["name"] == "Model version" and f["value"] == "1" for f in embeds[0]["fields"])


@pytest.mark.usefixtures("restore_discord")
async def test_hostile_uploads_get_clear_answers_and_leave_no_trace(hostile_server, tmp_path, monkeypatch):
    cases = hostile.cases()
    assert len(cases) >= 200 and len({c.label for c in cases}) > 150
    # Where a careless bot would write: its working directory, HOME, the temporary folder.
    world = tmp_path / "world"
    data, cwd, home, scratch = (world / n for n in ("data", "cwd", "home", "tmp"))
    for folder in (data, cwd, home, scratch):
        folder.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    outside = tmp_path.parent  # every test's temporary folder, the live models included
    before = tree(outside, skip=data)
    models = hostile_server.models_root

    outcomes: list[tuple[hostile.Case, str]] = []
    began = time.monotonic()
    async with (
        FakeDiscord() as fake,
        bot_against(
            fake,
            hostile_server,
            data,
            upload_max_files=hostile.UPLOAD_MAX_FILES,
            train_command=[*FAKE_TRAIN, "fail"],  # started trainings end at once, with a reason
        ) as bot,
    ):
        uploads = data / "uploads" / str(fake.guild.id)
        for number, case in enumerate(cases, 1):
            saved_before = len(list(uploads.iterdir())) if uploads.exists() else 0
            failures_before = len([m for m in fake.channel_messages() if "Training failed" in m.content])
            files = {f"file{k}": attach(fake, name, body) for k, (name, body) in enumerate(case.files, 1)}
            inter = await fake.invoke_slash("bgm train start", attachments=files, user=fake.manager)
            answer = await fake.wait_for_response(inter, timeout=60)
            text = answer.content
            assert answer.ephemeral, case.label
            assert text.startswith(("❌", "✅")) and len(text) < 500, f"{case.label}: {text!r}"
            saved = len(list(uploads.iterdir())) if uploads.exists() else 0
            if text.startswith("❌"):
                outcome = "refused"
                assert saved == saved_before, f"{case.label}: refused but saved"
                assert "training started" not in text
                assert case.why in text.lower(), f"{case.label}: {text!r} lacks {case.why!r}"
            else:
                outcome = "started, failed"
                assert "training started" in text and saved == saved_before + 1, case.label
                failed = await fake.wait_for(
                    lambda seen=failures_before: [
                        m for m in fake.channel_messages() if "Training failed" in m.content
                    ][seen:],
                    30,
                    what=f"the training of {case.label} to end",
                )
                assert "The live model is unchanged" in failed[0].content
                await fake.wait_for(lambda: not bot.retraining.busy, 30)
            if case.expect is not None:
                wanted = {"refused": "refused", "accepted": "started, failed"}[case.expect]
                assert outcome == wanted, f"{case.label}: expected {case.expect}, got {text!r}"
            outcomes.append((case, outcome))
            if number % STATUS_EVERY == 0 or number == len(cases):
                assert await status_answers(fake), f"/bgm status did not answer after case {number}"
        fuzz_s = time.monotonic() - began
        assert not bot.is_closed() and fake.connected
        fake.assert_no_unknown_routes()
        fake.assert_no_errors()

    # Nothing outside the data folder changed: not the cwd, HOME, TMPDIR, other tests' folders or the
    # live models (which are in there); inside it, uploads only under names the bot made up.
    assert tree(outside, skip=data) == before
    written = [p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()]
    uploaded = [p for p in written if p.startswith("uploads/")]
    assert all(SAVED.match(p) for p in uploaded), [p for p in uploaded if not SAVED.match(p)]
    assert not [p for p in data.rglob("*") if p.is_symlink()]
    assert sorted((models / "bgm").iterdir()) == [models / "bgm" / "1"]

    print(f"\n{len(cases)} hostile uploads in {fuzz_s:.0f} s\n{hostile.summary(outcomes)}")
    accepted = sum(outcome != "refused" for _, outcome in outcomes)
    assert accepted == len(list((data / "uploads").glob("*/*")))  # one folder per accepted command
    parse_saved_uploads(data / "uploads", tmp_path / "parse-cache")


def parse_saved_uploads(uploads: Path, cache: Path) -> None:
    """Training's own parser on everything the bot accepted: each file parsed or skipped with a reason,
    within the per-file time limit (shortened here), in a process of its own."""
    script = f"""
import json, sys, time
from pathlib import Path
from training import corpus
corpus.PARSE_TIME_S = 5.0
began = time.monotonic()
sources, skipped = corpus.collect([Path({str(uploads)!r})])
pieces, unparsable = corpus.load(sources, Path({str(cache)!r}), workers=1, progress=False)
json.dump({{"sources": len(sources), "pieces": len({{p.source for p in pieces}}),
           "skipped": [[s.name, s.reason] for s in skipped + unparsable],
           "seconds": time.monotonic() - began}}, sys.stdout)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    files = len([p for p in uploads.rglob("*") if p.is_file()])
    assert report["sources"] == files and not [
        s for s in report["skipped"] if not s[0].startswith(str(uploads))
    ]
    reasons = [reason for _, reason in report["skipped"]]
    assert all(reasons) and len(reasons) <= files
    kinds = {}
    for reason in reasons:
        key = re.sub(r"\(.*", "", reason).strip()[:60]
        kinds[key] = kinds.get(key, 0) + 1
    print(
        f"training's parser on the {files} saved files: {files - len(reasons)} with pieces, "
        f"{len(reasons)} skipped in {report['seconds']:.0f} s"
    )
    for key, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count:3d}  {key}")


# ------------------------------------------------------------------------- the validator, fuzzed directly

LIMITS = UploadLimits(max_files=3, max_bytes=256 * 1024, max_members=20, max_expanded=512 * 1024)
NAMES = st.sampled_from([f"x{s}" for s in (*MUSIC_SUFFIXES, ".zip", ".MID", ".exe", "")])
MEMBER_NAMES = st.one_of(
    st.sampled_from(["a.mid", "b.abc", "c.xml", "d.mxl", "e.zip", "../f.mid", "/g.mid", "h\\i.mid", "j/"]),
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), min_size=1, max_size=30),
)
GOOD = hostile.tune()


def check(name: str, data: bytes) -> None:
    """``inspect`` either refuses with a reason or returns music within the limits: nothing else."""
    try:
        music = inspect(name, data, LIMITS)
    except UploadRejected as error:
        assert error.reason and len(str(error)) < 400
        return
    assert music and sum(len(m.data) for m in music) <= LIMITS.max_expanded
    for item in music:
        assert item.suffix in MUSIC_SUFFIXES and item.origin.startswith(name)
        if item.suffix in (".mid", ".midi"):
            assert item.data.startswith(b"MThd")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, data=st.binary(max_size=2048))
def test_random_bytes_are_refused_or_accepted_never_crash(name, data):
    check(name, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, len(GOOD)),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255))),
)
def test_mutated_midi_is_refused_or_accepted_never_crash(cut, flips):
    data = bytearray(GOOD)
    for at, value in flips:
        data[at] = value
    check("tune.mid", bytes(data[: max(cut, 4)]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.dictionaries(MEMBER_NAMES, st.one_of(st.just(GOOD), st.binary(max_size=512)), max_size=25),
    method=st.sampled_from([0, 8]),
    chop=st.integers(0, 64),
)
def test_random_zips_are_refused_or_accepted_never_crash(members, method, chop):
    data = hostile.zipped(members, method)
    check("set.zip", data[: len(data) - chop] if chop else data)


# ------------------------------------------------------------------------------ options at their limits

# What a modified client could send (Discord's own client keeps to the registered choices and ranges).
COMPOSE_LIMITS = [
    {"mood": "nope"},
    {"mood": ""},
    {"mood": "x" * 6000},
    {"mood": "calm'; DROP TABLE tracks; --"},
    {"mood": "calm", "length": "huge"},
    {"mood": "calm", "seed": -1},
    {"mood": "calm", "seed": 2**31},
    {"mood": "calm", "seed": 2**63},
    {"mood": "calm", "tempo": 0},
    {"mood": "calm", "tempo": 29},
    {"mood": "calm", "tempo": 241},
    {"mood": "calm", "tempo": -(10**9)},
]
TRAIN_LIMITS = [
    {"epochs": 0},
    {"epochs": -5},
    {"epochs": 51},
    {"epochs": 1000},
    {"epochs": 1001},
    {"epochs": 2**53},
]


@pytest.mark.usefixtures("restore_discord")
async def test_command_options_past_their_limits_get_clear_refusals(hostile_server, tmp_path):
    async with FakeDiscord() as fake, bot_against(fake, hostile_server, tmp_path / "data") as bot:
        for command, variants in (("bgm compose", COMPOSE_LIMITS), ("bgm train start", TRAIN_LIMITS)):
            for options in variants:
                inter = await fake.invoke_slash(command, options=options, user=fake.manager, validate=False)
                answer = await fake.wait_for_response(inter, timeout=30)
                shown = {k: (v[:20] if isinstance(v, str) else v) for k, v in options.items()}
                print(f"/{command} {shown}: {answer.content[:150]!r}")
                assert answer.ephemeral and answer.content.startswith("❌"), (options, answer.content)
                assert len(answer.content) < 400
                assert bot.queue.waiting == bot.queue.running == 0 and not bot.retraining.busy
        assert await status_answers(fake)
        assert await bot.store.count() == 0
        assert not (tmp_path / "data" / "uploads").exists()
        fake.assert_no_errors()
