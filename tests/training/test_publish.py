import pytest

from training.publish import latest, publish, versions


def _write_ok(path):
    path.mkdir()
    (path / "saved_model.pb").write_text("model")


def test_versions_are_numbered_after_the_highest(tmp_path):
    (tmp_path / "3").mkdir()
    assert publish(tmp_path, _write_ok) == 4
    assert versions(tmp_path) == [3, 4]
    assert latest(tmp_path) == tmp_path / "4"


def test_a_failed_write_leaves_the_folder_as_it_was(tmp_path):
    (tmp_path / "1").mkdir()

    def fail(path):
        _write_ok(path)
        raise RuntimeError("export broke")

    with pytest.raises(RuntimeError):
        publish(tmp_path, fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_temporary_folders_are_not_versions(tmp_path):
    (tmp_path / ".tmp-abc").mkdir()
    (tmp_path / "2").mkdir()
    assert versions(tmp_path) == [2]
