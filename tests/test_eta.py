"""The console's time-left estimate (workflow/plugins/snakemake-logger-plugin-autolora)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("snakemake_logger_plugin_autolora", reason="set-up installs the logger plugin")
from snakemake_logger_plugin_autolora.eta import EtaEstimator, format_duration  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def planned(jobs_per_rule):
    """(a fake clock at 0, an estimator on it with this plan)."""
    clock = Clock()
    eta = EtaEstimator(clock)
    eta.plan({**jobs_per_rule, "total": sum(jobs_per_rule.values())})
    return clock, eta


def test_nothing_to_learn_from_before_a_job_finishes():
    clock, eta = planned({"search": 2})
    eta.started(1, "search", "rte")
    clock.now = 50
    assert eta.estimate() is None


def test_one_job_at_a_time_each_waiting_job_costs_its_rules_mean():
    clock, eta = planned({"search": 3, "retrain": 2})
    eta.started(1, "search", "rte")
    clock.now = 100
    eta.finished(1)
    eta.started(2, "retrain", "rte")
    clock.now = 140
    eta.finished(2)
    estimate = eta.estimate()
    # Two searches (100 s each) and one retrain (40 s) wait; one job ran at a time.
    assert estimate.seconds == pytest.approx(240)
    assert not estimate.rough


def test_running_jobs_count_their_time_left_and_concurrency_divides():
    clock, eta = planned({"search": 4})
    eta.started(1, "search", "rte")
    eta.started(2, "search", "mrpc")
    clock.now = 60
    eta.finished(1)  # rte: 60 s
    clock.now = 80
    eta.finished(2)  # mrpc: 80 s
    eta.started(3, "search", "rte")
    eta.started(4, "search", "mrpc")
    clock.now = 100
    # Two jobs ran at every moment but 60–80 s: concurrency (60·2 + 20·1 + 20·2) / 100 = 1.8.
    # Left: rte 60 − 20 = 40 s, mrpc 80 − 20 = 60 s.
    assert eta.estimate().seconds == pytest.approx(100 / 1.8)


def test_a_rule_not_timed_yet_borrows_the_mean_of_all_jobs_and_is_rough():
    clock, eta = planned({"prepare": 1, "search": 2})
    eta.started(1, "prepare", "rte")
    clock.now = 10
    eta.finished(1)
    estimate = eta.estimate()
    assert estimate.seconds == pytest.approx(20)
    assert estimate.rough


def test_durations_read_as_a_person_says_them():
    assert format_duration(20) == "under a minute"
    assert format_duration(14 * 60 + 40) == "15 min"
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"


def test_the_console_shows_snakemakes_output_and_an_eta(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: expand("out/{i}.txt", i=range(3))\n'
        'rule work:\n    output: "out/{i}.txt"\n    shell: "touch {output}"\n'
    )
    snakemake = Path(sys.executable).with_name("snakemake")
    run = subprocess.run(
        [snakemake, "--cores", "1", "--logger", "autolora"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert "1 of 4 steps (25%) done" in run.stderr
    assert "ETA under a minute" in run.stderr
    assert "4 of 4 steps (100%) done" in run.stderr
