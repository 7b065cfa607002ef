"""Which files are music and what a zip of them must pass: one set of rules for uploads and training."""

import io
import zipfile

import pytest

from bgm import files
from bgm.files import ZipLimits

LIMITS = ZipLimits(max_members=3, max_expanded=1000)


def members(entries: dict[str, bytes]) -> list[zipfile.ZipInfo]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue())).infolist()


def test_music_is_known_by_its_suffix_whatever_its_case():
    assert files.is_music("Folk/Reel.MID") and files.is_music("a.musicxml") and files.is_music("x.krn")
    assert not files.is_music("notes.txt") and not files.is_music("songs.zip")
    assert files.suffix("a/b.tar.GZ") == ".gz"


@pytest.mark.parametrize(
    "name", ["../a.mid", "/etc/a.mid", "C:/a.mid", "a\\b.mid", "a/../../b.mid", "a\x00.mid"]
)
def test_member_names_that_could_escape_are_unsafe(name):
    assert files.unsafe_member(name)


def test_ordinary_member_names_are_safe_and_mac_junk_is_junk():
    assert not files.unsafe_member("folk/reel.mid")
    assert (
        files.is_junk("__MACOSX/._reel.mid") and files.is_junk("a/.DS_Store") and not files.is_junk("a.mid")
    )


def test_a_zip_within_the_limits_passes():
    assert files.zip_problem(members({"a.mid": b"x", "b.abc": b"y"}), LIMITS) is None


def test_too_many_members_too_large_or_unsafe_each_say_why():
    assert "holds 4 files" in files.zip_problem(members({f"{i}.mid": b"" for i in range(4)}), LIMITS)
    assert "would expand to" in files.zip_problem(members({"a.mid": bytes(2000)}), LIMITS)
    unsafe = files.zip_problem(members({"../a.mid": b""}), LIMITS, quote=lambda n: f"<{n}>")
    assert unsafe == "contains an unsafe path (<../a.mid>)"
