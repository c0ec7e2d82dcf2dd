"""The differences table and figure: AutoLoRA minus each baseline, per task, with intervals.

For every task and baseline of a run: the mean paired difference of the main metric over seeds
(in points, the per-task tables' unit: ×100, or as stored for a metric kept in points), its 95 % t
interval and paired-bootstrap interval, the paired t-test's p after Holm's correction over the
whole table, the equivalence test against ±1 point (TOST) and the number of seeds at which the t
interval would be ±1 point wide at the observed spread (``autolora.stats``). The figure draws the
intervals against the ±1-point band.

The pipeline makes them for each run (rule ``report_differences``); ``autolora intervals`` makes
them for seeds pooled from several runs of the same settings (e.g. the committed reference and
a power run with more seeds):

    autolora intervals RUN_DIR [RUN_DIR ...] --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from autolora import report
from autolora.config import SEARCH_SETTINGS_FIELDS, search_settings
from autolora.errors import DataError
from autolora.stats import (
    AUTOLORA_METHOD,
    EQUIVALENCE_MARGIN,
    LEVEL,
    T_TEST,
    compare_with_autolora,
    holm_corrected,
)

POINTS = 100  # a point is a hundredth of a fraction-valued main metric
# What a pooled analysis may differ in between runs: their name, seeds and which tasks and
# methods ran (a task or method's comparison pools the seeds of the runs that have it).
POOLABLE_KEYS = ("run", "seeds", "tasks", "methods", "method_tasks")


def in_hundredths_of_a_point(metric_records: Sequence[Mapping]) -> list[dict]:
    """Copies of the records with the main metric as the tables' points divided by ``POINTS``, the
    scale of the ±1-point margin: a fraction (accuracy, correlations, F1) stays as it is, a metric
    stored in points already (WebNLG's BLEU over all categories) is divided by 100. The scale is the
    per-task tables' (``report.metric_axis``), so both show a task in the same unit."""
    scaled = []
    for record in metric_records:
        main_metric = record["main_metric"]
        factor = report.metric_axis(main_metric)[1] / POINTS
        metrics = {**record["metrics"], main_metric: factor * record["metrics"][main_metric]}
        scaled.append({**record, "metrics": metrics})
    return scaled


def run_comparisons(metric_records: Sequence[Mapping], tasks: Sequence[str], seeds: Sequence[int]) -> list[dict]:
    """Every baseline against AutoLoRA on every task that has both, Holm-corrected together."""
    metric_records = in_hundredths_of_a_point(metric_records)
    comparisons = []
    for task in tasks:
        methods = {record["method"] for record in metric_records if record["task"] == task}
        if AUTOLORA_METHOD in methods and len(methods) > 1:
            comparisons += compare_with_autolora(metric_records, task, seeds)
    return holm_corrected(comparisons)


def _points(value: float, signed: bool = True) -> str:
    return "–" if value is None or math.isnan(value) else f"{POINTS * value:{'+' if signed else ''}.2f}"


def _interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{_points(low)}, {_points(high)}]"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def verdict(comparison: Mapping) -> str:
    """What the interval says at the ±1-point margin: a difference, equivalence, or neither."""
    if comparison["significant"]:
        return "differs"
    if comparison["equivalent"]:
        return f"equivalent (±{POINTS * EQUIVALENCE_MARGIN:g})"
    return "inconclusive"


def differences_table(comparisons: Sequence[Mapping], source: str) -> pd.DataFrame:
    """One row per (task, baseline): the formatted cells, with notes and the tidy CSV rows."""
    rows = {}
    for comparison in comparisons:
        label = f"{report.task_label(comparison['task'])}: {AUTOLORA_METHOD} − {comparison['baseline']}"
        rows[label] = {
            "n seeds": str(comparison["n_seeds"]),
            "difference (points)": _points(comparison["mean_difference"]),
            f"{LEVEL:.0%} CI (t)": _interval(comparison["ci_low"], comparison["ci_high"]),
            f"{LEVEL:.0%} CI (bootstrap)": _interval(comparison["boot_low"], comparison["boot_high"]),
            "± half-width": _points(comparison["half_width"], signed=False),
            "p (Holm)": _p(comparison["p_holm"]),
            f"TOST p (±{POINTS * EQUIVALENCE_MARGIN:g})": _p(comparison["tost_p"]),
            "verdict": verdict(comparison),
            f"seeds for ±{POINTS * EQUIVALENCE_MARGIN:g}": str(comparison["seeds_for_1pt"] or "–"),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "Comparison"
    table.attrs["notes"] = differences_notes(comparisons, source)
    table.attrs["tidy"] = [dict(comparison) for comparison in comparisons]
    return table


def differences_notes(comparisons: Sequence[Mapping], source: str) -> list[str]:
    margin = POINTS * EQUIVALENCE_MARGIN
    return [
        f"Main metric in points (×100; BLEU as scored) of {AUTOLORA_METHOD} minus the baseline's, paired by seed; mean over the row's n seeds "
        f"({source}). CI (t): mean ± t(n−1) · sd / √n. CI (bootstrap): percentile interval "
        "of the mean over 10,000 resamples of the seeds (a seed's two runs together; with few seeds it has few "
        "distinct values and runs narrower than the t interval).",
        f"p (Holm): {T_TEST}, two-sided, Holm-corrected over the table's {len(comparisons)} comparisons. "
        f"TOST p: two one-sided t-tests of |difference| < {margin:g} point, the smallest effect of interest "
        f"(the size of the paper's gains over LoRA); below 0.05 the two methods are equivalent within ±{margin:g}.",
        "Verdict: differs (p (Holm) < 0.05), equivalent (TOST p < 0.05), or inconclusive (neither: these seeds "
        f"cannot tell a difference of {margin:g} point from none). Seeds for ±{margin:g}: the fewest seeds whose t interval "
        f"would have a half-width of at most {margin:g} point at the spread these seeds show.",
    ]


def differences_figure(comparisons: Sequence[Mapping], out_png: str | os.PathLike) -> None:
    """One panel per task: each baseline's t interval (thick) and bootstrap interval (thin) of
    AutoLoRA minus it, in points, against the ±1-point band and zero."""
    tasks = list(dict.fromkeys(comparison["task"] for comparison in comparisons))
    fig, axes = report.panel_grid(max(len(tasks), 1), max_columns=3)
    margin = POINTS * EQUIVALENCE_MARGIN
    for ax, task in zip(axes, tasks):
        rows = [comparison for comparison in comparisons if comparison["task"] == task]
        for y, row in enumerate(rows):
            colour = "tab:red" if row["significant"] else "tab:green" if row["equivalent"] else "tab:gray"
            ax.plot([POINTS * row["ci_low"], POINTS * row["ci_high"]], [y, y], color=colour, linewidth=4, alpha=0.6)
            ax.plot([POINTS * row["boot_low"], POINTS * row["boot_high"]], [y, y], color="black", linewidth=1)
            ax.plot(POINTS * row["mean_difference"], y, "o", color="black", markersize=4)
        ax.axvspan(-margin, margin, color="tab:green", alpha=0.12)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [row["baseline"] for row in rows])
        ax.invert_yaxis()
        ax.set_title(report.task_label(task))
        ax.set_xlabel(f"{AUTOLORA_METHOD} − baseline (points)")
    fig.suptitle(f"{LEVEL:.0%} intervals (thick: t; thin: bootstrap); band: ±{margin:g} point; "
                 "red: differs, green: equivalent, grey: inconclusive", fontsize=8)
    report.save_figure_atomically(fig, out_png)


def write_differences(comparisons: Sequence[Mapping], out_prefix: str | os.PathLike, out_png: str | os.PathLike,
                      caption: str, source: str) -> None:
    """The differences table (md, tex, csv) and figure of Holm-corrected comparisons."""
    report.write_table(differences_table(comparisons, source), out_prefix, caption)
    differences_figure(comparisons, out_png)


# ---- pooling seeds across runs of the same settings

def _settings(run_dir: Path) -> dict:
    provenance = run_dir / "provenance.json"
    if not provenance.is_file():
        raise DataError(f"{provenance}: missing (a finished run writes it); cannot check the run's settings")
    config = json.loads(provenance.read_text())["config"]
    settings = {key: value for key, value in config.items() if key not in POOLABLE_KEYS}
    if "search" in settings:  # its switches as the search reads them: an absent hvp is the finite difference
        search = search_settings(settings["search"])
        settings["search"] = {**settings["search"],
                              **{key: getattr(search, field) for field, key in SEARCH_SETTINGS_FIELDS.items()}}
    return settings


def check_poolable(run_dirs: Sequence[Path]) -> None:
    """Runs may pool their seeds only if every setting but the run's name, seeds and methods is
    the same; else a DataError names the first differing key."""
    reference = _settings(run_dirs[0])
    for run_dir in run_dirs[1:]:
        other = _settings(run_dir)
        for key in sorted(set(reference) | set(other)):
            if reference.get(key) != other.get(key):
                raise DataError(f"{run_dir} and {run_dirs[0]} differ in config key {key!r}: their seeds "
                                "are not runs of one experiment and cannot be pooled")


def pooled_records(run_dirs: Sequence[Path]) -> list[dict]:
    """Every metrics.json of the runs; a (task, method, seed) found twice is an error."""
    records, seen = [], {}
    for run_dir in run_dirs:
        for path in sorted(run_dir.rglob("metrics.json")):
            record = json.loads(path.read_text())
            key = (record["task"], record["method"], record["seed"])
            if key in seen:
                raise DataError(f"{path} and {seen[key]} both hold task {key[0]}, method {key[1]}, seed {key[2]}")
            seen[key] = path
            records.append(record)
    if not records:
        raise DataError(f"no metrics.json under {[str(run_dir) for run_dir in run_dirs]}")
    return records


def pooled_comparisons(records: Sequence[Mapping]) -> list[dict]:
    """Every baseline against AutoLoRA on the seeds the two share (a baseline that ran in only
    some of the runs is compared on those seeds), Holm-corrected together."""
    records = in_hundredths_of_a_point(records)
    seeds: dict[tuple[str, str], set[int]] = {}
    for record in records:
        seeds.setdefault((record["task"], record["method"]), set()).add(record["seed"])
    comparisons = []
    for (task, method), method_seeds in sorted(seeds.items(), key=lambda item: report.task_sort_key(item[0][0])):
        if method == AUTOLORA_METHOD or (task, AUTOLORA_METHOD) not in seeds:
            continue
        shared = sorted(method_seeds & seeds[(task, AUTOLORA_METHOD)])
        pair = [record for record in records if record["task"] == task and record["seed"] in shared
                and record["method"] in (AUTOLORA_METHOD, method)]
        comparisons += compare_with_autolora(pair, task, shared)
    return holm_corrected(comparisons)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autolora intervals", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished runs' folders (results/<run>)")
    parser.add_argument("--out", type=Path, required=True, help="folder for differences.{md,tex,csv,png}")
    args = parser.parse_args(argv)
    try:
        check_poolable(args.runs)
        comparisons = pooled_comparisons(pooled_records(args.runs))
        if not comparisons:
            raise DataError(f"no baseline beside {AUTOLORA_METHOD} in {[str(run) for run in args.runs]}")
        source = "seeds pooled from " + ", ".join(str(run) for run in args.runs)
        write_differences(comparisons, args.out / "differences", args.out / "differences.png",
                          f"AutoLoRA minus each baseline, {source}", source)
    except DataError as exc:
        print(f"autolora intervals: {exc}", file=sys.stderr)
        return 2
    print(f"autolora intervals: {len(comparisons)} comparisons → {args.out}/differences.md")
    return 0
