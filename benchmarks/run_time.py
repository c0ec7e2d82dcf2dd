"""How long a run takes on N cores, from the job times its benchmarks measured: every job of the
config's DAG, each given the wall-clock seconds of its own benchmark file (``benchmark:`` of the
rules; a job without one, the local bookkeeping rules, counts 0 s), scheduled greedily in a fixed
order (the DAG's layers, each sorted by rule and output) on N cores, a job taking as many cores
as its threads and starting once every job it depends on has finished. Run it in the run's
working directory, after the run, so that every checkpoint's later jobs (the tuning ladder's
extra rungs) are in the DAG:

    python benchmarks/run_time.py config/cpu.yaml --cores 2 8

It prints the measured total (the sum of the job times), the longest chain of dependent jobs (no
number of cores finishes sooner) and, for each N, the simulated wall-clock time of the run as
one Snakemake call (the main command), not as ``run-by-seed.sh`` runs it, seed after seed. It
assumes what the measurements were taken under holds (the same machine, as many jobs beside each
other as cores) and counts no scheduling overhead; a job measured beside other work (a test
suite on the same cores) makes it pessimistic. Built through Snakemake's API as
``benchmarks/job_dump.py`` is.
"""

from __future__ import annotations

import argparse
import heapq
from pathlib import Path

from autolora.reporting.cost import read_benchmark


def job_order(dag) -> list:
    """The DAG's jobs, dependencies first, in an order that is the same on every call."""
    return [job for layer in dag.toposorted() for job in sorted(layer, key=lambda job: (job.rule.name, sorted(map(str, job.output))))]


def simulate(order: list, durations: dict, dependencies: dict, threads: dict, cores: int) -> float:
    """Greedy list scheduling: at each moment, the ready jobs start in ``order`` while cores are free."""
    finished_at, running, free, clock = {}, [], cores, 0.0
    waiting = list(order)
    while waiting or running:
        for job in [job for job in waiting if all(dep in finished_at for dep in dependencies[job])]:
            needs = min(threads[job], cores)
            if needs > free:
                break  # in order: a job that does not fit waits, and so do those after it
            waiting.remove(job)
            free -= needs
            heapq.heappush(running, (clock + durations[job], order.index(job), job))
        clock, _, job = heapq.heappop(running)
        finished_at[job] = clock
        free += min(threads[job], cores)
    return clock


def longest_chain(order: list, durations: dict, dependencies: dict) -> float:
    ends = {}
    for job in order:  # dependencies first
        ends[job] = durations[job] + max((ends[dep] for dep in dependencies[job]), default=0.0)
    return max(ends.values(), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--cores", nargs="+", type=int, default=[2, 8])
    parser.add_argument("--partial", action="store_true",
                        help="a run not yet finished: jobs without their benchmark file count 0 s (how many is printed)")
    args = parser.parse_args()
    from job_dump import dag_of  # beside this script (Snakemake's API: loaded when the script runs)

    dag = dag_of(Path(__file__).resolve().parent.parent / "Snakefile", [path.resolve() for path in args.configs],
                 forceall=False)
    order = job_order(dag)
    benchmarked = [job for job in order if job.benchmark]
    not_run = [job for job in benchmarked if not Path(str(job.benchmark)).is_file()]
    if not_run and not args.partial:
        raise SystemExit(f"{len(not_run)} jobs have not run (no {not_run[0].benchmark}, ...): run this after the run, "
                         "or pass --partial")
    durations = {job: 0.0 if job in not_run or not job.benchmark else read_benchmark(str(job.benchmark))["wall_s"]
                 for job in order}
    dependencies = {job: set(dag.dependencies[job]) for job in order}
    threads = {job: job.threads for job in order}
    total = sum(durations.values())
    print(f"{len(order)} jobs, {len(benchmarked)} with a benchmark, {len(not_run)} of those not run yet (0 s)")
    print(f"sum of job times: {total / 3600:.2f} h; longest chain of dependent jobs: "
          f"{longest_chain(order, durations, dependencies) / 3600:.2f} h")
    for cores in args.cores:
        print(f"simulated on {cores} cores: {simulate(order, durations, dependencies, threads, cores) / 3600:.2f} h")


if __name__ == "__main__":
    main()
