"""How good is the console's ETA (issue #26)? Replay a finished run's jobs through it.

Every job of a run leaves a Snakemake benchmark file with its wall time
(``benchmarks/<stage>/<family>[/<method>]/<task>-seed<n>.tsv``). This script replays those jobs,
seed by seed and stage by stage, on ``--slots`` job slots of a simulated clock, feeds each start
and end to the logger plugin's ``EtaEstimator`` (the estimate the console prints), and compares
its time left with the replay's true time left at a few points of the run, beside the naive
estimate from job counts (jobs left × mean finished job / slots):

    python benchmarks/eta_replay.py results/reference/cpu

Rules are those that wrote each file (``rule_of``: AutoLoRA's own, a method's, a tuning trial's, a
grid candidate's validation); the replay's order is not Snakemake's, so this tests the
estimate's arithmetic on real job lengths, not the scheduler.
"""

from __future__ import annotations

import argparse
import heapq
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean
from typing import NamedTuple

from snakemake_logger_plugin_autolora.eta import EtaEstimator

from autolora.methods import is_grid_run
from autolora.reporting.cost import read_benchmark

STAGES = ("search", "ranks", "retrain", "evaluate")  # the stages whose jobs run per task and seed
POINTS = (0.1, 0.25, 0.5, 0.75, 0.9)  # shares of the jobs done at which the estimates are compared


class Job(NamedTuple):
    rule: str
    task: str
    seconds: float


class Sample(NamedTuple):
    done: int  # jobs finished
    estimate: float | None  # the estimator's time left, s (None before it can tell)
    naive: float  # jobs left × mean finished job / slots, s
    truth: float  # the replay's time left, s


def rule_of(stage: str, method_folder: str | None) -> str:
    """The rule that wrote a benchmark of ``stage``: AutoLoRA's own (no method folder), a tuning
    trial's (``tune_<m>_t<i>``), a grid candidate's validation, or a method's."""
    if method_folder is None:
        return stage
    if re.fullmatch(r"tune_.+_t\d+", method_folder):
        return {"retrain": "retrain_trial", "evaluate": "validate_trial"}[stage]
    if stage == "evaluate" and is_grid_run(method_folder):
        return "grid_validate"
    return f"{stage}_method"


def recorded_jobs(results: Path) -> list[Job]:
    """The run's per-task jobs in replay order: seed by seed, each seed's stages in pipeline order."""
    keyed = []
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        parts = path.relative_to(results / "benchmarks").parts
        if parts[0] not in STAGES:
            continue
        task, seed = path.stem.rsplit("-seed", 1)
        rule = rule_of(parts[0], parts[2] if len(parts) == 4 else None)
        keyed.append(((int(seed), STAGES.index(parts[0])), Job(rule, task, read_benchmark(path)["wall_s"])))
    return [job for _, job in sorted(keyed, key=lambda item: item[0])]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay(jobs: Sequence[Job], slots: int = 2) -> list[Sample]:
    """One sample after each job's end: the estimates and the truth, with jobs started in order
    whenever a slot is free."""
    clock = _Clock()
    eta = EtaEstimator(clock)
    eta.plan(Counter(job.rule for job in jobs))
    ends, running, finished = [], [], []
    for jobid, job in enumerate(jobs):
        if len(running) == slots:
            clock.now, done = heapq.heappop(running)
            eta.finished(done)
            finished.append(jobs[done].seconds)
            ends.append((clock.now, len(finished), eta.estimate()))
        eta.started(jobid, job.rule, job.task)
        heapq.heappush(running, (clock.now + job.seconds, jobid))
    while running:
        clock.now, done = heapq.heappop(running)
        eta.finished(done)
        finished.append(jobs[done].seconds)
        ends.append((clock.now, len(finished), eta.estimate()))
    return [Sample(done, estimate and estimate.seconds, (len(jobs) - done) * fmean(finished[:done]) / slots,
                   clock.now - at) for at, done, estimate in ends]


def minutes_and_error(estimate: float | None, truth: float) -> str:
    """An estimate of the time left in minutes, and how far off the true time left it is."""
    if estimate is None:
        return "–"
    return f"{estimate / 60:.0f} min {(estimate - truth) / truth:+.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a finished run's results folder (with benchmarks/)")
    parser.add_argument("--slots", type=int, default=2, help="jobs side by side (the run's --cores)")
    args = parser.parse_args()
    jobs = recorded_jobs(args.results)
    if not jobs:
        parser.error(f"no benchmark files of {', '.join(STAGES)} jobs under {args.results / 'benchmarks'}")
    samples = replay(jobs, args.slots)
    print(f"# {len(jobs)} jobs, {sum(job.seconds for job in jobs) / 3600:.1f} job-hours, {args.slots} slots")
    print(f"{'done':>10} {'true left':>10} {'ETA':>16} {'job-count ETA':>16}")
    for share in POINTS:
        sample = samples[max(round(share * len(samples)) - 1, 0)]
        print(f"{share:>9.0%} {sample.truth / 60:>6.0f} min {minutes_and_error(sample.estimate, sample.truth):>16} "
              f"{minutes_and_error(sample.naive, sample.truth):>16}")


if __name__ == "__main__":
    main()
