"""Training uploads: each bad input refused with a reason, good ones saved under our own names."""

import io
import zipfile

import pytest

from bot.retraining.uploads import UploadLimits, UploadRejected, check_attachments, inspect, save
from tests.conftest import write_tunes

LIMITS = UploadLimits(max_files=3, max_bytes=100_000, max_members=10, max_expanded=200_000)
MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


def zipped(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(name, data, limits=LIMITS) -> str:
    with pytest.raises(UploadRejected) as error:
        inspect(name, data, limits)
    return str(error.value)


def test_a_wrong_extension_is_refused_before_download():
    with pytest.raises(UploadRejected, match=r"`song.mp3` is not a music file or zip"):
        check_attachments([("song.mp3", 10)], LIMITS)


def test_a_file_over_the_size_limit_is_refused_before_download():
    with pytest.raises(UploadRejected, match=r"over the 0.1 MB limit"):
        check_attachments([("big.mid", 200_000)], LIMITS)


def test_too_many_files_are_refused():
    with pytest.raises(UploadRejected, match="at most 3"):
        check_attachments([(f"{i}.mid", 10) for i in range(4)], LIMITS)


def test_a_midi_file_without_a_midi_header_is_refused():
    assert "not a MIDI file" in refused("fake.mid", b"hello")


def test_a_zip_bomb_is_refused_by_its_expanded_size():
    bomb = zipped({"a.mid": b"MThd" + bytes(300_000)})
    assert len(bomb) < 5_000
    assert "would expand to" in refused("bomb.zip", bomb)


def test_a_zip_with_too_many_members_is_refused():
    assert "holds 11 files" in refused("many.zip", zipped({f"{i}.mid": MIDI for i in range(11)}))


def test_a_nested_archive_is_refused():
    inner = zipped({"a.mid": MIDI})
    assert "contains another archive" in refused("outer.zip", zipped({"inner.zip": inner}))
    # Also when it hides behind a music suffix.
    assert "contains another archive" in refused("outer.zip", zipped({"inner.mid": inner}))


@pytest.mark.parametrize(
    "member", ["../evil.mid", "/etc/evil.mid", "a/../../evil.mid", "C:/evil.mid", "a\\..\\b.mid"]
)
def test_path_traversal_names_are_refused(member):
    assert "unsafe path" in refused("trav.zip", zipped({member: MIDI}))


def test_a_corrupt_zip_is_refused():
    assert "not a readable zip" in refused("broken.zip", b"PK\x03\x04 this is not really a zip")


def test_a_zip_whose_member_is_damaged_is_refused():
    data = bytearray(zipped({"a.mid": MIDI * 50}))
    start = data.index(b"a.mid") + len("a.mid")
    data[start + 5 : start + 15] = bytes(10)  # inside the compressed stream
    text = refused("damaged.zip", bytes(data))
    assert "corrupt" in text or "not a MIDI" in text


def test_a_zip_without_music_is_refused():
    assert "no music files" in refused("docs.zip", zipped({"readme.txt": b"hi"}))


def test_xml_with_entity_declarations_is_refused():
    laughs = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><score-partwise/>'
    assert "XML entities" in refused("laughs.musicxml", laughs)


def test_good_files_and_zip_members_are_accepted(tmp_path):
    tunes = write_tunes(tmp_path / "tunes", count=2)
    single = inspect("tune.mid", tunes[0].read_bytes(), LIMITS)
    members = zipped(
        {
            "folk/reel.mid": tunes[1].read_bytes(),
            "__MACOSX/._reel.mid": b"junk",
            "notes.txt": b"x",
            "air.abc": b"X:1",
        }
    )
    from_zip = inspect("set.zip", members, LIMITS)
    assert [m.origin for m in single] == ["tune.mid"]
    assert [(m.origin, m.suffix) for m in from_zip] == [
        ("set.zip/folk/reel.mid", ".mid"),
        ("set.zip/air.abc", ".abc"),
    ]


def test_saved_files_get_generated_names_inside_the_data_folder(tmp_path):
    root = tmp_path / "data" / "uploads"
    music = inspect("set.zip", zipped({"deep/odd name;rm -rf.mid": MIDI, "b.abc": b"X:1"}), LIMITS)
    folder = save(music, root)
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.name for p in written] == ["0001.mid", "0002.abc"]
    assert all(p.parent == folder and folder.parent == root.resolve() for p in written)
    assert written[0].read_bytes() == MIDI


def test_each_save_gets_its_own_folder(tmp_path):
    music = inspect("a.mid", MIDI, LIMITS)
    assert save(music, tmp_path) != save(music, tmp_path)


def test_a_name_in_a_message_is_quoted_and_shortened():
    with pytest.raises(UploadRejected) as error:
        check_attachments([("`x`" + "y" * 100 + ".exe", 1)], LIMITS)
    assert str(error.value).startswith("`'x'yyy") and "…`" in str(error.value)
