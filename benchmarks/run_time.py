"""How long a run takes on N cores, from the job times its benchmarks measured: every job of the
config's DAG (as a fresh run plans it, forced), each given the wall-clock seconds of its own
benchmark file (``benchmark:`` of the rules; a job without one, the local bookkeeping rules, counts
0 s), scheduled greedily on N single-threaded slots in the DAG's order, a job starting once every
job it depends on has finished. Run it in the run's working directory, after the run:

    python benchmarks/run_time.py config/cpu.yaml --cores 2 8

It prints the measured total (the sum of the job times), the longest chain of dependent jobs (no
number of cores finishes sooner) and, for each N, the simulated wall-clock time. The simulation
assumes what the measurements were taken under holds (same machine, jobs one thread each, as
many jobs beside each other as cores) and counts no scheduling overhead; a job measured beside
other work (a test suite on the same cores) makes it pessimistic. Jobs behind a checkpoint appear
once the checkpoint has run, so run it after the run. Built through Snakemake's API as
``benchmarks/job_dump.py`` is.
"""

from __future__ import annotations

import argparse
import csv
import heapq
from pathlib import Path

from job_dump import dag_of


def seconds(benchmark: str | None) -> float | None:
    """The wall-clock seconds a benchmark file holds (its first row; None where there is none)."""
    if benchmark is None or not Path(benchmark).is_file():
        return None
    with open(benchmark, newline="") as handle:
        return float(next(csv.DictReader(handle, delimiter="\t"))["s"])


def simulate(order: list, durations: dict, dependencies: dict, cores: int) -> float:
    """Greedy list scheduling: the ready jobs start in the DAG's order as slots free up."""
    finished_at, running, clock = {}, [], 0.0
    waiting = list(order)
    while waiting or running:
        ready = [job for job in waiting if all(dep in finished_at for dep in dependencies[job])]
        while ready and len(running) < cores:
            job = ready.pop(0)
            waiting.remove(job)
            start = max([clock, *(finished_at[dep] for dep in dependencies[job])])
            heapq.heappush(running, (start + durations[job], id(job), job))
        clock, _, job = heapq.heappop(running)
        finished_at[job] = clock
    return clock


def longest_chain(order: list, durations: dict, dependencies: dict) -> float:
    ends = {}
    for job in order:  # topological
        ends[job] = durations[job] + max((ends[dep] for dep in dependencies[job]), default=0.0)
    return max(ends.values(), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--cores", nargs="+", type=int, default=[2, 8])
    args = parser.parse_args()
    dag = dag_of(Path(__file__).resolve().parent.parent / "Snakefile", [path.resolve() for path in args.configs])
    order = list(dag.toposorted())
    order = [job for level in order for job in level] if order and isinstance(order[0], (list, set)) else order
    durations = {job: seconds(str(job.benchmark) if job.benchmark else None) for job in order}
    unmeasured = [job for job in order if durations[job] is None and job.benchmark]
    durations = {job: value or 0.0 for job, value in durations.items()}
    dependencies = {job: set(dag.dependencies[job]) for job in order}
    total = sum(durations.values())
    print(f"{len(order)} jobs, {sum(1 for job in order if job.benchmark)} with a benchmark; "
          f"{len(unmeasured)} of those not measured (counted 0 s)")
    print(f"sum of job times: {total / 3600:.2f} h; longest chain of dependent jobs: "
          f"{longest_chain(order, durations, dependencies) / 3600:.2f} h")
    for cores in args.cores:
        print(f"simulated on {cores} cores: {simulate(order, durations, dependencies, cores) / 3600:.2f} h")


if __name__ == "__main__":
    main()
