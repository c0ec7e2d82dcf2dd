import json

import pytest

from autolora.plumbing import atomic


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


def fill_shared_folder(target, writer, barrier):
    with atomic.directory(target) as staging:
        (staging / "part-a.txt").write_text(f"{writer}\n")
        (staging / "part-b.txt").write_text(f"{writer}\n")
        barrier.wait()  # every writer puts its folder in place at the same moment


def test_parallel_writers_of_one_shared_folder_all_succeed_and_leave_it_whole(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_ in range(5):  # the renames race; a few rounds make a lost race show reliably
        barrier = context.Barrier(8)
        target = tmp_path / f"cache{round_}"
        writers = [context.Process(target=fill_shared_folder, args=(target, n, barrier)) for n in range(8)]
        for process in writers:
            process.start()
        for process in writers:
            process.join(timeout=60)
        assert [process.exitcode for process in writers] == [0] * 8
        parts = {name: (target / name).read_text() for name in ("part-a.txt", "part-b.txt")}
        assert parts["part-a.txt"] == parts["part-b.txt"]  # one writer's complete folder, not a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"cache{n}" for n in range(5)]  # nothing left over


def test_an_unwritable_output_is_named_before_any_work(tmp_path):
    from autolora.errors import OutputError

    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    with pytest.raises(OutputError, match="results/rte/search.json: its folder .* is not writable"):
        atomic.check_writable(blocker / "rte" / "search.json")


def test_a_folder_written_atomically_is_shared_as_the_umask_says(tmp_path):
    import os
    import stat

    from autolora.plumbing import atomic

    previous = os.umask(0o022)
    try:
        with atomic.directory(tmp_path / "adapter") as staging:
            (staging / "weights.bin").write_bytes(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "adapter").stat().st_mode) == 0o755
