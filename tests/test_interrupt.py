"""The README's main command, interrupted as a user would (Ctrl-C; Snakemake killed outright)
and run again verbatim, finishes the run: no lock to clear by hand, no incomplete outputs to
confirm, and no checkpoint left behind once it has succeeded."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SHARED

RUN = REPO / "workflow" / "scripts" / "run.sh"


def small_config(tmp_path) -> Path:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config.update(tasks=["rte"], seeds=[0, 1], methods=["autolora"], ablations=[], method_tasks=None,
                  task_overrides={})
    config["data"]["mirror"] = str(SHARED / "data")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and the
    # children inherit that (Python then installs no KeyboardInterrupt handler): CI launched with
    # `&` made Ctrl-C a no-op and the interrupted run finish with 0. A terminal's user has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(workdir, config_path):
    # A session of its own, so that a signal to its group reaches what Ctrl-C reaches.
    return subprocess.Popen(["bash", str(RUN), "--cores", "2", "--configfile", str(config_path)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=default_sigint)


def wait_for(path: Path, process, timeout=600):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def processes_in(workdir: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == workdir:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def finish(workdir, config_path):
    rerun = start(workdir, config_path)
    output, _ = rerun.communicate(timeout=1800)
    assert rerun.returncode == 0, output[-4000:]
    results = workdir / "results" / "test"
    assert (results / "tables" / "glue.md").exists()
    assert not list(results.rglob(".*.checkpoint"))  # the final states went once the run succeeded
    return output


def interrupted_run(tmp_path, signal_number):
    """The command started, then ``signal_number`` sent to its process group once the first
    search has finished; returns (workdir, config path, the ended process, its output)."""
    workdir, config_path = tmp_path / "work", small_config(tmp_path)
    workdir.mkdir()
    first = start(workdir, config_path)
    wait_for(workdir / "results" / "test" / "glue" / "rte" / "seed0" / "search.json", first)
    os.killpg(first.pid, signal_number)
    output, _ = first.communicate(timeout=600)
    return workdir, config_path, first, output


@pytest.mark.slow
def test_ctrl_c_then_the_same_command_finishes_the_run(tmp_path):
    workdir, config_path, first, output = interrupted_run(tmp_path, signal.SIGINT)
    assert first.returncode != 0, output[-4000:]
    finish(workdir, config_path)


@pytest.mark.slow
def test_snakemake_killed_outright_then_the_same_command_finishes_the_run(tmp_path):
    workdir, config_path, _, _ = interrupted_run(tmp_path, signal.SIGKILL)  # as a lost session would
    deadline = time.monotonic() + 120
    while processes_in(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list((workdir / ".snakemake" / "locks").iterdir())  # the stale lock a plain rerun trips on
    output = finish(workdir, config_path)
    assert "removing the lock it left" in output
