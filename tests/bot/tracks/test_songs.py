"""Kept songs and their retention: which go (age, count, size; oldest first) and the folders removed."""

import os

import pytest

from bot.tracks.songs import RECORD, LocalSongs, Retention, Stored, prune

DAY = 86400.0
NOW = 100 * DAY


def songs(*ages_and_sizes):
    """Stored songs 1, 2, ... made ``age`` days before NOW, of ``size`` bytes."""
    return [Stored(k, NOW - age * DAY, size) for k, (age, size) in enumerate(ages_and_sizes, start=1)]


def test_no_limits_keep_everything():
    retention = Retention()
    assert retention.keeps_everything
    assert retention.expired(songs((400, 10**9), (1, 1)), NOW) == []


def test_songs_past_the_age_go():
    assert Retention(max_age_s=30 * DAY).expired(songs((31, 1), (29, 1), (45, 1)), NOW) == [3, 1]


def test_past_the_count_the_oldest_go():
    assert Retention(max_songs=2).expired(songs((3, 1), (1, 1), (2, 1), (4, 1)), NOW) == [4, 1]


def test_past_the_size_the_oldest_go_until_the_rest_fits():
    stored = songs((4, 500), (3, 300), (2, 300), (1, 300))
    assert Retention(max_bytes=900).expired(stored, NOW) == [1]
    assert Retention(max_bytes=599).expired(stored, NOW) == [1, 2, 3]


def test_the_limits_combine():
    stored = songs((40, 1), (3, 100), (2, 100), (1, 100))
    assert Retention(max_age_s=30 * DAY, max_songs=3, max_bytes=150).expired(stored, NOW) == [1, 2, 3]


def write_song(root, track_id: int, age_days: float, size: int) -> None:
    folder = root / str(track_id)
    (folder / "stems").mkdir(parents=True)
    (folder / "song.ogg").write_bytes(b"x" * size)
    (folder / "stems" / "melody.ogg").write_bytes(b"y" * size)
    (folder / RECORD).write_text("{}")
    os.utime(folder / RECORD, (NOW - age_days * DAY, NOW - age_days * DAY))


async def test_local_songs_are_listed_with_their_date_and_size(tmp_path):
    write_song(tmp_path, 7, 2, 100)
    (tmp_path / "not-a-song").mkdir()
    stored = await LocalSongs(tmp_path).stored()
    assert stored == [Stored(7, NOW - 2 * DAY, 2 * 100 + 2)]
    assert await LocalSongs(tmp_path / "missing").stored() == []


async def test_prune_removes_what_the_retention_lets_go_and_nothing_else(tmp_path):
    local = LocalSongs(tmp_path)
    for track_id, age in ((1, 9), (2, 5), (3, 1)):
        write_song(tmp_path, track_id, age, 10)
    assert await prune(local, Retention(max_songs=2), now=NOW) == [1]
    assert await prune(local, Retention(max_age_s=3 * DAY), now=NOW) == [2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3"]
    assert await local.read(1, RECORD) is None and await local.read(3, RECORD) == b"{}"
    assert await prune(local, Retention(), now=NOW) == []


@pytest.mark.parametrize("name", ["song.ogg", "nothing.here"])
async def test_a_file_of_a_song_that_is_not_kept_reads_as_none(tmp_path, name):
    write_song(tmp_path, 1, 1, 3)
    await LocalSongs(tmp_path).remove(1)
    assert await LocalSongs(tmp_path).read(1, name) is None
