import zipfile

import pytest

from training import corpus


def _load(paths, cache):
    sources, skipped = corpus.collect(paths)
    pieces, unparsable = corpus.load(sources, cache, workers=1, progress=False)
    return pieces, {s.name.rsplit("/", 1)[-1]: s.reason for s in skipped + unparsable}


def test_midi_files_in_a_folder_become_pieces(tune_dir, tmp_path):
    pieces, skipped = _load([tune_dir], tmp_path / "cache")
    assert len(pieces) == 6 and not skipped
    assert all(len(p.tokens) > 32 for p in pieces)


def test_a_second_run_reads_the_cache_instead_of_parsing(tune_dir, tmp_path, monkeypatch):
    first, _ = _load([tune_dir], tmp_path / "cache")

    def no_parsing(*_):
        raise AssertionError("parsed again")

    monkeypatch.setattr(corpus, "_parse_to_cache", no_parsing)
    second, _ = _load([tune_dir], tmp_path / "cache")
    assert second == first


def test_corrupt_and_non_music_files_are_skipped_with_a_reason(tmp_path, tune_dir):
    (tmp_path / "truncated.mid").write_bytes((tune_dir / "tune0.mid").read_bytes()[:40])
    (tmp_path / "random.mid").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "song.xml").write_text("<html>not music</html>")
    pieces, skipped = _load([tmp_path], tmp_path / "cache")
    assert pieces == []
    assert set(skipped) == {"truncated.mid", "random.mid", "notes.txt", "song.xml"}
    assert "not a music file" in skipped["notes.txt"]


def test_a_piece_without_notes_is_skipped(tmp_path):
    (tmp_path / "empty.abc").write_text("X:1\nT:silence\nM:4/4\nL:1/4\nK:C\nz4|z4|\n")
    _, skipped = _load([tmp_path / "empty.abc"], tmp_path / "cache")
    assert "enough notes" in skipped["empty.abc"]


def test_zip_members_are_read_in_memory_and_traversal_names_go_nowhere(tmp_path, tune_dir):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(tune_dir / "tune0.mid", "../../escape.mid")
        z.write(tune_dir / "tune1.mid", "ok/tune1.mid")
        z.writestr("inner.zip", b"PK")
    before = set(tmp_path.parent.rglob("*"))
    pieces, skipped = _load([archive], tmp_path / "cache")
    assert len(pieces) == 2
    assert any("nested archives" in reason for reason in skipped.values())
    created = set(tmp_path.parent.rglob("*")) - before
    cache = tmp_path / "cache"
    assert all(p == cache or cache in p.parents for p in created)


def test_a_zip_bomb_is_refused_before_expanding(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k in range(3):
            z.writestr(f"big{k}.mid", b"\0" * (corpus.MAX_ARCHIVE_BYTES // 2))
    sources, skipped = corpus.collect([archive])
    assert sources == []
    assert "expands past" in skipped[0].reason


@pytest.mark.parametrize("name", ["missing.mid", "missing_folder"])
def test_missing_paths_are_reported(tmp_path, name):
    _, skipped = corpus.collect([tmp_path / name])
    assert skipped[0].reason == "no such file or folder"
