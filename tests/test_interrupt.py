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


def test_run_by_seed_asks_for_one_seed_at_a_time_of_the_layered_configs(tmp_path):
    # A stand-in for Snakemake that records each call's arguments: run-by-seed.sh over the main
    # config and the ablation overlay asks for every method of each seed in turn, both config
    # files layered in every call, then for the whole run, and calls the hook after each.
    calls = tmp_path / "calls"
    stub = tmp_path / "snakemake"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    stub.chmod(0o755)
    configs = ["config/cpu.yaml", "config/cpu-ablations.yaml"]
    env = {**os.environ, "SNAKEMAKE": str(stub), "PYTHONPATH": str(REPO)}
    subprocess.run(["bash", str(REPO / "workflow" / "scripts" / "run-by-seed.sh"), *configs,
                    "--after-seed", f"echo hook $SEED >> {calls}", "--cores", "2"],
                   cwd=REPO, env=env, check=True, timeout=300)
    lines = calls.read_text().splitlines()
    assert [line for line in lines if line.startswith("hook")] == [f"hook {s}" for s in (0, 1, 2, 3, 4, "all")]
    runs = [line for line in lines if not line.startswith("hook")]
    assert len(runs) == 6 and all(f"--configfile {' '.join(configs)} --cores 2" in line for line in runs)
    assert "results/cpu-ablations/glue/stsb/seed3/autolora_no_meta/metrics.json" in runs[3]
    assert "results/cpu-ablations/glue/sst2/seed3/metrics.json" in runs[3]
    assert "seed2" not in runs[3] and "results/" not in runs[5]
