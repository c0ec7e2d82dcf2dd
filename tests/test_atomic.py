import json

import pytest

from autolora import atomic


def test_failed_writes_leave_neither_target_nor_temporary(tmp_path):
    def fail(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.replace_file(tmp_path / "table.csv", fail)
    with pytest.raises(RuntimeError), atomic.directory(tmp_path / "adapter") as staging:
        (staging / "weights").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_completed_folder_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "adapter"
    target.mkdir()
    (target / "stale").write_text("old")
    with atomic.directory(target) as staging:
        (staging / "fresh").write_text("new")
    assert [p.name for p in target.iterdir()] == ["fresh"]
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_json_and_text_land_complete_and_readable(tmp_path):
    atomic.write_json(tmp_path / "a" / "metrics.json", {"accuracy": 0.5})
    assert json.loads((tmp_path / "a" / "metrics.json").read_text()) == {"accuracy": 0.5}
    assert oct((tmp_path / "a" / "metrics.json").stat().st_mode & 0o777) == "0o644"
