"""The console's time-left estimate (workflow/plugins/snakemake-logger-plugin-autolora)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("snakemake_logger_plugin_autolora", reason="set-up installs the logger plugin")
from snakemake_logger_plugin_autolora.eta import (  # noqa: E402
    Estimate,
    EtaEstimator,
    format_duration,
    job_label,
    status_line,
)

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
    # Not a terminal: the status as plain lines, one after each progress line.
    assert "1 of 4 jobs done; running: " in run.stderr and "; ETA under a minute (about " in run.stderr
    assert "4 of 4 steps (100%) done" in run.stderr
    assert "\x1b[K" not in run.stderr


def test_a_job_is_named_by_its_rule_and_wildcards():
    assert job_label("retrain_method", {"family": "glue", "task": "sst2", "seed": "5", "method": "lora_r8"}) \
        == "retrain_method sst2 seed5 lora_r8"
    assert job_label("report_cost", None) == "report_cost"


def test_the_status_line_says_done_running_and_time_left():
    from datetime import datetime

    noon = datetime(2026, 12, 4, 12, 0)
    line = status_line(52, 110, ["search sst2 seed7", "retrain stsb seed6", "evaluate sst2 seed5"],
                       Estimate(33 * 60, rough=False), noon)
    assert line == ("52 of 110 jobs done; running: search sst2 seed7, retrain stsb seed6 (+1 more); "
                    "ETA 33 min (about 12:33)")
    assert status_line(0, 4, [], None, noon) == "0 of 4 jobs done; running: nothing; ETA after the first job"
    assert status_line(3, 4, ["work 3"], Estimate(30, rough=True), noon).endswith(
        "ETA under a minute (about 12:00) (rough: many jobs left are of stages not timed yet)")


def test_on_a_terminal_the_status_is_redrawn_in_place(tmp_path):
    """Under a pseudo-terminal the status line is erased before each of Snakemake's lines and
    drawn again below it, never printed as lines of its own."""
    import os
    import pty

    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: expand("out/{i}.txt", i=range(3))\n'
        'rule work:\n    output: "out/{i}.txt"\n    shell: "sleep 1; touch {output}"\n'
    )
    snakemake = Path(sys.executable).with_name("snakemake")
    controller, terminal = pty.openpty()
    run = subprocess.Popen([snakemake, "--cores", "1", "--logger", "autolora"], cwd=tmp_path,
                           stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the run ended and closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    assert run.wait(timeout=120) == 0
    text = screen.decode(errors="replace")
    assert "\r\x1b[K" in text
    assert "of 4 jobs done; running: work" in text
    assert "4 of 4 steps (100%) done" in text


# ---- the arithmetic replayed on job lists (benchmarks/eta_replay.py)

def test_equal_jobs_the_eta_is_the_time_left_exactly():
    from benchmarks.eta_replay import Job, replay

    samples = replay([Job("retrain", "sst2", 60.0)] * 8, slots=2)
    # Pairs end together at 60, 120, 180, 240 s (the first of a pair is sampled with its twin running).
    assert [(sample.done, sample.truth) for sample in samples] == [
        (1, 180), (2, 180), (3, 120), (4, 120), (5, 60), (6, 60), (7, 0), (8, 0)]
    for sample in samples:
        assert sample.estimate == pytest.approx(sample.truth)
    # Job counts count the running twin as a whole job left.
    assert [sample.naive for sample in samples[:2]] == [pytest.approx(210), pytest.approx(180)]


def test_jobs_of_different_lengths_are_weighted_by_their_rules_time():
    from benchmarks.eta_replay import Job, replay

    search, evaluate = Job("search", "sst2", 300.0), Job("evaluate", "sst2", 30.0)
    samples = replay([search, evaluate, search, search, search], slots=1)
    after_two = samples[1]
    assert (after_two.done, after_two.truth) == (2, 900)  # three searches wait
    assert after_two.estimate == pytest.approx(900)
    assert after_two.naive == pytest.approx(3 * 165)  # job counts: three of the mean job


def test_on_a_recorded_run_the_eta_is_closer_than_job_counts_from_a_quarter_on():
    from benchmarks.eta_replay import POINTS, recorded_jobs, replay

    jobs = recorded_jobs(ROOT / "results" / "reference" / "cpu-v1")
    assert len(jobs) == 220 and {job.rule for job in jobs} == {
        "search", "ranks", "retrain", "retrain_method", "evaluate", "evaluate_method", "grid_validate"}
    samples = replay(jobs, slots=2)
    assert samples[-1].truth == 0
    for share in POINTS[1:-1]:  # 25 %, 50 %, 75 % of the jobs done
        sample = samples[round(share * len(samples)) - 1]
        error = abs(sample.estimate - sample.truth) / sample.truth
        assert error < 0.1, (share, sample)
        assert error < abs(sample.naive - sample.truth) / sample.truth, (share, sample)


# ---- a run's time on N cores (benchmarks/run_time.py) and the rules of benchmark files


def test_the_run_time_simulation_respects_dependencies_cores_and_threads():
    from benchmarks.run_time import longest_chain, simulate

    # a (10 s) → b (5 s) and c (5 s); d (8 s) on its own; c takes two cores.
    order = ["a", "d", "b", "c"]
    durations = {"a": 10.0, "b": 5.0, "c": 5.0, "d": 8.0}
    dependencies = {"a": set(), "b": {"a"}, "c": {"a"}, "d": set()}
    threads = {"a": 1, "b": 1, "c": 2, "d": 1}
    assert longest_chain(order, durations, dependencies) == 15.0
    assert simulate(order, durations, dependencies, threads, cores=1) == 28.0
    # 2 cores: a and d at 0; b at 10 on the core d freed at 8; c needs both: after b, at 15.
    assert simulate(order, durations, dependencies, threads, cores=2) == 20.0
    assert simulate(order, durations, dependencies, threads, cores=8) == 15.0


@pytest.mark.parametrize(("stage", "folder", "rule"), [
    ("retrain", None, "retrain"), ("retrain", "lora_r8", "retrain_method"), ("evaluate", "grid_r4", "grid_validate"),
    ("retrain", "tune_grid_r4_t3", "retrain_trial"), ("evaluate", "tune_lora_r8_t0", "validate_trial"),
    ("evaluate", "adalora", "evaluate_method"),
])
def test_a_benchmark_file_s_rule_is_the_one_that_wrote_it(stage, folder, rule):
    from benchmarks.eta_replay import rule_of

    assert rule_of(stage, folder) == rule
