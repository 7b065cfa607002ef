"""What the Stems button posts: one zip when it fits, else the largest parts that fit, and a note."""

import zipfile

from bot.tracks.stems import bundle


def parts(folder, sizes):
    paths = []
    for name, size in sizes.items():
        path = folder / f"bgm-calm-1-{name}.ogg"
        path.write_bytes(bytes(size))
        paths.append(path)
    return paths


def test_all_the_stems_go_in_one_zip_when_it_fits(tmp_path):
    stems = parts(tmp_path, {"melody": 300, "harmony": 500, "bass": 200})
    result = bundle(stems, tmp_path / "stems.zip", limit=10_000)
    assert result.paths == (tmp_path / "stems.zip",) and result.note is None
    with zipfile.ZipFile(result.paths[0]) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in stems)


def test_over_the_limit_the_largest_parts_that_fit_are_posted_with_a_note(tmp_path):
    stems = parts(tmp_path, {"melody": 4000, "harmony": 7000, "bass": 2500, "drums": 3000})
    result = bundle(stems, tmp_path / "stems.zip", limit=10_000)
    assert [p.name for p in result.paths] == ["bgm-calm-1-harmony.ogg", "bgm-calm-1-drums.ogg"]
    assert [p.name for p in result.left_out] == ["bgm-calm-1-melody.ogg", "bgm-calm-1-bass.ogg"]
    assert "over this channel's upload limit" in result.note and "bgm-calm-1-melody.ogg" in result.note
    assert not (tmp_path / "stems.zip").exists()
