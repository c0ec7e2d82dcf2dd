"""How long a Snakemake run has left, learnt from the jobs it has finished.

A job's expected time is the mean time of the finished jobs of its rule and task, else of its
rule, else of every finished job. Jobs run side by side, so the remaining work is divided by
the run's mean concurrency so far (the time integral of running jobs over the wall time).
While more than a tenth of the jobs left belong to rules that have not finished a job yet, the
estimate leans on other rules' times and says so (``rough``).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean


@dataclass(frozen=True)
class Estimate:
    seconds: float
    rough: bool  # many jobs left are of rules with no finished job to learn from


class EtaEstimator:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._start = clock()
        self._planned: Counter[str] = Counter()  # jobs per rule this run will execute
        self._running: dict[int, tuple[str, str | None, float]] = {}  # jobid → rule, task, start
        self._finished: Counter[str] = Counter()
        self._times: dict[tuple[str, str | None], list[float]] = defaultdict(list)
        self._busy = 0.0  # ∫ (running jobs) dt up to _last
        self._last = self._start

    def plan(self, jobs_per_rule: dict[str, int]) -> None:
        self._planned = Counter({rule: n for rule, n in jobs_per_rule.items() if rule != "total"})

    def started(self, jobid: int, rule: str, task: str | None = None) -> None:
        self._advance()
        self._running[jobid] = (rule, task, self._clock())

    def finished(self, jobid: int) -> None:
        self._advance()
        if jobid not in self._running:
            return
        rule, task, start = self._running.pop(jobid)
        self._finished[rule] += 1
        self._times[rule, task].append(self._clock() - start)

    def estimate(self) -> Estimate | None:
        """None until a job has finished: nothing to learn from yet."""
        self._advance()
        if not self._finished:
            return None
        now = self._clock()
        running = Counter(rule for rule, _, _ in self._running.values())
        waiting = {
            rule: max(self._planned[rule] - self._finished[rule] - running[rule], 0)
            for rule in self._planned
        }
        work = sum(n * self._expected(rule, None) for rule, n in waiting.items())
        work += sum(
            max(self._expected(rule, task) - (now - start), 0.0)
            for rule, task, start in self._running.values()
        )
        concurrency = self._busy / (now - self._start) if now > self._start else 1.0
        left = sum(waiting.values()) + len(self._running)
        untimed = sum(n for rule, n in waiting.items() if not self._finished[rule])
        untimed += sum(not self._finished[rule] for rule in running)
        return Estimate(work / max(concurrency, 1.0), rough=untimed > 0.1 * left)

    def _expected(self, rule: str, task: str | None) -> float:
        if self._times.get((rule, task)):
            return fmean(self._times[rule, task])
        same_rule = [t for (r, _), times in self._times.items() if r == rule for t in times]
        if same_rule:
            return fmean(same_rule)
        return fmean(t for times in self._times.values() for t in times)

    def _advance(self) -> None:
        now = self._clock()
        self._busy += len(self._running) * (now - self._last)
        self._last = now


def job_label(rule: str, wildcards: dict | None) -> str:
    """``retrain_method sst2 seed5 lora_r8``: the rule and what tells its jobs apart."""
    shown = [f"seed{value}" if key == "seed" else str(value)
             for key, value in (wildcards or {}).items() if key != "family"]
    return " ".join([rule, *shown])


def status_line(done: int, total: int, running: list[str], estimate: Estimate | None, now: datetime,
                most_shown: int = 2) -> str:
    """One line for the whole run: jobs done of all, what runs now, and the time left."""
    current = ", ".join(running[:most_shown]) or "nothing"
    if len(running) > most_shown:
        current += f" (+{len(running) - most_shown} more)"
    if estimate is None:
        eta = "ETA after the first job"
    else:
        at = now + timedelta(seconds=estimate.seconds)
        rough = " (rough: many jobs left are of stages not timed yet)" if estimate.rough else ""
        eta = f"ETA {format_duration(estimate.seconds)} (about {at:%H:%M}){rough}"
    return f"{done} of {total} jobs done; running: {current}; {eta}"


def format_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
