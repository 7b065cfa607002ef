"""What /bgm model list says about each version."""

from pathlib import Path

from bot.versions.text import MAX_SHOWN, version_line, versions_text
from lifecycle.versions import VersionInfo

V3 = VersionInfo(
    3,
    Path("models/bgm/3"),
    labels=("stable",),
    created=1_800_000_000,
    size_bytes=12_300_000,
    network="lstm 192, window 64, melody",
    figures={"val_perplexity": 2.954},
    gate={"accepted": True},
)


def test_a_version_line_has_labels_network_figures_and_the_gate():
    assert version_line(V3, {}) == (
        "**3** · `stable` · lstm 192, window 64, melody · ppl 2.95 · gate accepted · 2027-01-15 · 12 MB"
    )


def test_a_version_that_failed_to_load_says_so():
    assert version_line(VersionInfo(4, Path("x"), network="?"), {4: "bad pb"}).endswith(
        "⚠️ failed to load: bad pb"
    )


def test_the_list_shows_problems_and_caps_its_length():
    many = [VersionInfo(v, Path(str(v)), network="lstm") for v in range(20, 0, -1)]
    text = versions_text(many, {}, ["label stable points at version 9, which is not there"])
    lines = text.splitlines()
    assert len(lines) == 1 + MAX_SHOWN + 2
    assert lines[-2] == "…and 10 older" and lines[-1].startswith("⚠️ label stable")


def test_no_versions_says_how_to_make_one():
    assert "/bgm train start" in versions_text([], {}, [])
