"""Pipeline overhead (issue #16, lever 5): how much of each stage's wall time is not its loops.

Every job of a run leaves a Snakemake benchmark file (``benchmarks/<stage>/...tsv``: the job's
wall time) and a log with its progress bars (``logs/<stage>/...log``, same relative path). The
time inside the bars is the work proper (training, search and prediction steps); the rest is what
each job pays around it: interpreter and library imports, model and tokeniser loading, opening
the dataset, checkpoints and adapters written between and after epochs, metrics and outputs.

    python benchmarks/overhead.py results/reference/cpu
    python benchmarks/overhead.py results/reference/cpu-cost --jobs '*/grid*'

prints, per stage, the jobs, their wall time, the time outside the bars (total, share, median
per job); ``--jobs`` keeps the jobs whose benchmark path (below ``benchmarks/``) matches a glob, so
that two runs are compared on the same kind of job (``*/grid*``: the grid's trainings and
scorings). tqdm prints elapsed time in whole seconds, so each bar is up to a second off.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from autolora.reporting.cost import read_benchmark

# "label:  42%|████▏     | 10/24 [00:10<00:14,  1.05s/it]": the label, the count and the elapsed time.
BAR_UPDATE = re.compile(r"^(?P<label>[^\r\n]*?):\s+\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+) \[(?P<elapsed>[\d:]+)<")


def seconds(clock: str) -> int:
    """'1:02:03' or '02:03' as seconds."""
    total = 0
    for part in clock.split(":"):
        total = 60 * total + int(part)
    return total


class BarUpdate(NamedTuple):
    label: str
    total: int
    done: int
    elapsed: int

    def starts_a_new_bar_after(self, previous: BarUpdate) -> bool:
        return ((self.label, self.total) != (previous.label, previous.total)
                or self.done < previous.done or self.elapsed < previous.elapsed)


def time_in_bars(log: str) -> int:
    """Sum over the log's progress bars of each bar's last elapsed time. A bar ends where the next
    update has another label or total, or its count or clock goes back (a new bar of the same name)."""
    finished, current = 0, None
    for segment in re.split(r"[\r\n]", log):
        match = BAR_UPDATE.match(segment)
        if match is None:
            continue
        update = BarUpdate(match["label"], int(match["total"]), int(match["done"]), seconds(match["elapsed"]))
        if current is not None and update.starts_a_new_bar_after(current):
            finished += current.elapsed
        current = update
    return finished + (current.elapsed if current else 0)


def overhead_by_stage(results: Path, jobs: str = "*") -> dict[str, list[tuple[float, int]]]:
    """stage -> [(wall seconds, seconds inside progress bars)] for every job with a benchmark file
    whose path below benchmarks/ matches the glob ``jobs``."""
    stages = defaultdict(list)
    for benchmark in sorted((results / "benchmarks").rglob("*.tsv")):
        relative = benchmark.relative_to(results / "benchmarks")
        if not fnmatch.fnmatchcase(relative.as_posix(), jobs):
            continue
        log = (results / "logs" / relative).with_suffix(".log")
        inside = time_in_bars(log.read_text(errors="replace")) if log.exists() else 0
        stages[relative.parts[0].removesuffix(".tsv")].append((read_benchmark(benchmark)["wall_s"], inside))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a run's results folder (with benchmarks/ and logs/)")
    parser.add_argument("--jobs", default="*", help="a glob on the benchmark path below benchmarks/ (default: every job)")
    args = parser.parse_args()
    stages = overhead_by_stage(args.results, args.jobs)
    if not stages:
        raise SystemExit(f"no benchmark files under {args.results / 'benchmarks'} match {args.jobs!r}")
    print(f"{'stage':<24}{'jobs':>6}{'wall s':>10}{'outside bars s':>16}{'share':>8}{'median per job s':>18}")
    all_wall = all_outside = 0.0
    for stage, jobs in sorted(stages.items()):
        wall = sum(w for w, _ in jobs)
        outside = [max(w - inside, 0.0) for w, inside in jobs]
        all_wall, all_outside = all_wall + wall, all_outside + sum(outside)
        print(f"{stage:<24}{len(jobs):>6}{wall:>10.0f}{sum(outside):>16.0f}{sum(outside) / wall:>8.1%}"
              f"{statistics.median(outside):>18.1f}")
    print(f"{'all':<24}{sum(map(len, stages.values())):>6}{all_wall:>10.0f}{all_outside:>16.0f}{all_outside / all_wall:>8.1%}")


if __name__ == "__main__":
    main()
