"""What the Stems button posts: one zip when it fits, else the largest parts that fit, and a note; and
the stems kept for the next click, for a bounded number of tracks."""

import os
import zipfile

from bot.tracks import stems as kept_stems
from bot.tracks.stems import KEPT, bundle, cached, keep


def parts(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, size in sizes.items():
        path = folder / f"bgm-calm-1-{name}.ogg"
        path.write_bytes(bytes(size))
        paths.append(path)
    return paths


def test_all_the_stems_go_in_one_zip_when_it_fits(tmp_path):
    stems = parts(tmp_path, {"melody": 300, "harmony": 500, "bass": 200})
    result = bundle(stems, limit=10_000)
    assert result.paths == (tmp_path / "bgm-calm-1-stems.zip",) and result.note is None
    with zipfile.ZipFile(result.paths[0]) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in stems)


def test_over_the_limit_the_largest_parts_that_fit_are_posted_with_a_note(tmp_path):
    stems = parts(tmp_path, {"melody": 4000, "harmony": 7000, "bass": 2500, "drums": 3000})
    result = bundle(stems, limit=10_000)
    assert [p.name for p in result.paths] == ["bgm-calm-1-harmony.ogg", "bgm-calm-1-drums.ogg"]
    assert [p.name for p in result.left_out] == ["bgm-calm-1-melody.ogg", "bgm-calm-1-bass.ogg"]
    assert "over this channel's upload limit" in result.note and "bgm-calm-1-melody.ogg" in result.note


def test_a_second_bundle_reuses_the_zip_the_first_made(tmp_path):
    stems = parts(tmp_path, {"melody": 300, "bass": 200})
    first = bundle(stems, limit=10_000).paths[0]
    made = first.stat().st_ino, first.stat().st_mtime_ns
    second = bundle(stems, limit=10_000).paths[0]
    assert second == first and (second.stat().st_ino, second.stat().st_mtime_ns) == made


def test_bundles_made_at_once_each_post_a_whole_zip(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    stems = parts(tmp_path, {"melody": 30_000, "harmony": 30_000, "bass": 30_000})
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: bundle(stems, limit=1_000_000), range(8)))
    assert {r.paths for r in results} == {(tmp_path / "bgm-calm-1-stems.zip",)}
    with zipfile.ZipFile(tmp_path / "bgm-calm-1-stems.zip") as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 3
    assert not list(tmp_path.glob("*.partial"))


def test_kept_stems_are_found_again_until_a_part_is_missing(tmp_path):
    folder = tmp_path / "songs" / "1" / "stems"
    stems = parts(folder, {"melody": 300, "bass": 200})
    assert cached(folder) is None  # nothing recorded yet
    keep(folder, stems)
    assert cached(folder) == stems
    stems[1].unlink()
    assert cached(folder) is None


def test_only_the_most_recently_used_tracks_keep_their_stems(tmp_path):
    songs = tmp_path / "songs"
    folders = [songs / str(track) / "stems" for track in range(KEPT + 2)]
    for age, folder in enumerate(folders):
        keep(folder, parts(folder, {"melody": 10}))
        # Track 0 was clicked again most recently of all; the others in the order they were made.
        stamp = 1_000_000 + (10_000 if age == 0 else age)
        os.utime(folder / kept_stems.RECORD, (stamp, stamp))
    keep(folders[-1], list(folders[-1].glob("*.ogg")))  # the newest click prunes the rest
    left = sorted(int(p.parent.name) for p in songs.glob("*/stems"))
    assert len(left) == KEPT and 0 in left and 1 not in left and 2 not in left
    assert (songs / "1").is_dir()  # the song itself stays; only its stems went
