"""A search job killed with SIGKILL mid-run and started again resumes from its last checkpoint
and writes the same α, trajectory and ranks as an uninterrupted run; the killed run leaves no
output behind."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from autolora.stages.ranks import rank_record
from tests.conftest import REPO, tiny_rte_job

JOB = """
import json, sys
from autolora.stages.search import run_search
root = sys.argv[1]
config = json.load(open(sys.argv[3] if len(sys.argv) > 3 else f"{root}/config.json"))
run_search(f"{root}/tokenized", config, "rte", 0, sys.argv[2])
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    config = tiny_rte_job(root, 64, search={"epochs": 3, "batch_size": 4, "lr": 1e-2, "alpha_lr": 1e-1,
                                            "log_every": 1, "lora_dropout": 0.1, "checkpoint_every": 2})
    (root / "config.json").write_text(json.dumps(config))
    return root


def start_search(root, out_json, config_json=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    extra = [str(config_json)] if config_json else []
    return subprocess.Popen([sys.executable, "-c", JOB, str(root), str(out_json), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_after_first_checkpoint(process, checkpoint, timeout=300):
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        assert process.poll() is None, "the search ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.5)  # a few more steps, so the kill lands between checkpoints
    process.send_signal(signal.SIGKILL)
    process.wait()


def same_search(a, b):
    return (a["alpha"], a["weights"], a["trajectory"], a["steps"]) == (b["alpha"], b["weights"], b["trajectory"], b["steps"])


@pytest.mark.slow
def test_a_search_killed_with_sigkill_resumes_to_the_uninterrupted_result(root):
    reference_json = root / "reference.json"
    reference = start_search(root, reference_json)
    assert reference.wait(timeout=600) == 0, reference.stdout.read()[-2000:]

    out_json = root / "killed.json"
    killed = start_search(root, out_json)
    kill_after_first_checkpoint(killed, root / ".killed.json.checkpoint" / "checkpoint.pt")
    assert killed.returncode == -signal.SIGKILL
    assert not out_json.exists()  # no output before the job completes

    resumed = start_search(root, out_json)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-2000:]
    assert "resuming from step" in output
    first, second = (json.loads(path.read_text()) for path in (reference_json, out_json))
    assert same_search(first, second)
    assert rank_record(first) == rank_record(second)
    # The final state stays (a rerun of the finished job would only rewrite its output) until
    # the run succeeds and removes the checkpoints of every job whose output exists.
    from autolora.plumbing.checkpoint import remove_finished_checkpoints

    rerun = start_search(root, out_json)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0 and f"resuming from step {first['steps']}" in output, output[-2000:]
    assert same_search(first, json.loads(out_json.read_text()))
    assert root / ".killed.json.checkpoint" in remove_finished_checkpoints(root)
    assert not (root / ".killed.json.checkpoint").exists()


@pytest.mark.slow
def test_a_killed_search_resumes_after_its_time_budget_was_raised(root, tmp_path):
    """The SLURM time limit hit, the user raises it (and edits retraining and decoding): the
    search's checkpoint still belongs to it, so it resumes instead of starting over."""
    out_json = root / "raised.json"
    killed = start_search(root, out_json)
    kill_after_first_checkpoint(killed, root / ".raised.json.checkpoint" / "checkpoint.pt")
    config = json.loads((root / "config.json").read_text())
    config["resources"]["search_minutes_per_epoch"] *= 10
    config["retrain"]["epochs"] += 1
    config["generate"]["num_beams"] = 1
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(config))
    resumed = start_search(root, out_json, edited)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-2000:]
    assert "resuming from step" in output
