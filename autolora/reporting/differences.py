"""The differences table and figure: AutoLoRA minus each baseline, per task, with intervals.

For every task and baseline of a run: the mean paired difference of the main metric over seeds
(in points, the per-task tables' unit: ×100, or as stored for a metric kept in points), its 95 % t
interval over seeds, a bootstrap over seeds, and a hierarchical bootstrap over seeds and the
evaluation examples (from each run's ``predictions.txt`` and the task's ``eval_labels.txt``), the
paired t-test's p and the equivalence test's p against ±1 point (TOST), each Holm-corrected over
the whole table, a verdict from both corrected tests and the widest interval, and the number of
seeds at which the t interval would be ±1 point wide at the observed spread (``autolora.reporting.stats``).
The figure draws the intervals against the ±1-point band.

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
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

from autolora.reporting import figures, tables
from autolora.core.settings import SearchSettings
from autolora.errors import DataError
from autolora.families.base import LABELS_FILE
from autolora.reporting.stats import (
    AUTOLORA_METHOD,
    EQUIVALENCE_MARGIN,
    HIERARCHICAL_RESAMPLES,
    LEVEL,
    T_TEST,
    EQUIVALENT,
    Examples,
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
    per-task tables' (``tables.metric_axis``), so both show a task in the same unit."""
    scaled = []
    for record in metric_records:
        main_metric = record["main_metric"]
        factor = tables.metric_axis(main_metric)[1] / POINTS
        metrics = {**record["metrics"], main_metric: factor * record["metrics"][main_metric]}
        scaled.append({**record, "metrics": metrics})
    return scaled




def read_values(path: Path) -> np.ndarray:
    return np.array([float(line) for line in Path(path).read_text().split()], dtype=float)


def load_examples(metric_paths: Sequence, label_paths: Mapping[str, Path]) -> dict[str, Examples]:
    """Per task with a labels file: its labels and every run's predictions (``predictions.txt``
    beside each ``metrics.json``), both scaled like the main metric (``in_hundredths_of_a_point``
    keeps fractions as they are, so predictions and labels stay on their own scale)."""
    labels = {task: read_values(path) for task, path in label_paths.items()}
    predictions: dict[str, dict] = {task: {} for task in labels}
    for path in metric_paths:
        record = json.loads(Path(path).read_text())
        if record["task"] not in labels:
            continue
        values = read_values(Path(path).with_name("predictions.txt"))
        if len(values) != len(labels[record["task"]]):
            raise DataError(f"{Path(path).with_name('predictions.txt')}: {len(values)} predictions for "
                            f"{len(labels[record['task']])} labels in {label_paths[record['task']]}")
        predictions[record["task"]][record["method"], record["seed"]] = values
    return {task: Examples(labels[task], predictions[task]) for task in labels}


def run_comparisons(metric_records: Sequence[Mapping], tasks: Sequence[str], seeds: Sequence[int],
                    examples: Mapping[str, Examples] | None = None) -> list[dict]:
    """Every baseline against AutoLoRA on every task that has both, Holm-corrected together;
    with a task's ``examples``, its hierarchical bootstrap intervals too."""
    metric_records = in_hundredths_of_a_point(metric_records)
    comparisons = []
    for task in tasks:
        methods = {record["method"] for record in metric_records if record["task"] == task}
        if AUTOLORA_METHOD in methods and len(methods) > 1:
            comparisons += compare_with_autolora(metric_records, task, seeds,
                                                 examples=(examples or {}).get(task))
    return holm_corrected(comparisons)


def _points(value: float, signed: bool = True) -> str:
    return "–" if value is None or math.isnan(value) else f"{POINTS * value:{'+' if signed else ''}.2f}"


def _interval(low: float, high: float) -> str:
    return "–" if math.isnan(low) else f"[{_points(low)}, {_points(high)}]"


def _p(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def verdict(comparison: Mapping) -> str:
    """The comparison's verdict (``autolora.reporting.stats.verdict_of``), with the margin where equivalent."""
    outcome = comparison["verdict"]
    return f"{outcome} (±{POINTS * EQUIVALENCE_MARGIN:g})" if outcome == EQUIVALENT else outcome


def differences_table(comparisons: Sequence[Mapping], source: str) -> pd.DataFrame:
    """One row per (task, baseline): the formatted cells, with notes and the tidy CSV rows."""
    rows = {}
    for comparison in comparisons:
        label = f"{tables.task_label(comparison['task'])}: {AUTOLORA_METHOD} − {comparison['baseline']}"
        rows[label] = {
            "n seeds": str(comparison["n_seeds"]),
            "difference (points)": _points(comparison["mean_difference"]),
            f"{LEVEL:.0%} CI (t)": _interval(comparison["ci_low"], comparison["ci_high"]),
            f"{LEVEL:.0%} CI (bootstrap: seeds)": _interval(comparison["boot_low"], comparison["boot_high"]),
            f"{LEVEL:.0%} CI (bootstrap: seeds × examples)": _interval(comparison.get("hier_low", math.nan),
                                                                      comparison.get("hier_high", math.nan)),
            "± half-width (t)": _points(comparison["half_width"], signed=False),
            "p (Holm)": _p(comparison["p_holm"]),
            f"TOST p (±{POINTS * EQUIVALENCE_MARGIN:g}, Holm)": _p(comparison["tost_p_holm"]),
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
        f"({source}). CI (t): mean ± t(n−1) · sd / √n, the spread over seeds alone. CI (bootstrap: seeds): percentile "
        "interval of the mean over 10,000 resamples of the seeds (a seed's two runs together; with few seeds it has few "
        "distinct values and runs narrower than the t interval). CI (bootstrap: seeds × examples): over "
        f"{HIERARCHICAL_RESAMPLES:,} resamples of the seeds and, within each drawn seed, of the evaluation examples (the "
        "same examples for both methods), the metric recomputed from the predictions: it covers the training seed "
        "(where a run draws its training subset per seed, the subset too) and the evaluation sample; – where the metric "
        "cannot be recomputed per example (BLEU, entity F1). No interval covers the choice of model, tasks or budget.",
        f"p (Holm): {T_TEST}, two-sided, Holm-corrected over the table's {len(comparisons)} comparisons. "
        f"TOST p: two one-sided t-tests of |difference| < {margin:g} point, the smallest effect of interest "
        f"(the size of the paper's gains over LoRA), Holm-corrected over the same {len(comparisons)} comparisons "
        "as a second family.",
        "Verdict: differs (p (Holm) < 0.05 and the widest of the intervals excludes 0), equivalent (TOST p (Holm) < "
        f"0.05 and the widest interval inside ±{margin:g}), or inconclusive (neither: these seeds and examples cannot "
        f"tell a difference of {margin:g} point from none). Seeds for ±{margin:g}: the fewest seeds whose t interval "
        f"would have a half-width of at most {margin:g} point at the spread these seeds show.",
    ]


def differences_figure(comparisons: Sequence[Mapping], out_png: str | os.PathLike) -> None:
    """One panel per task: each baseline's t interval (thick) and bootstrap interval (thin) of
    AutoLoRA minus it, in points, against the ±1-point band and zero."""
    tasks = list(dict.fromkeys(comparison["task"] for comparison in comparisons))
    fig, axes = figures.panel_grid(max(len(tasks), 1), max_columns=3)
    margin = POINTS * EQUIVALENCE_MARGIN
    for ax, task in zip(axes, tasks):
        rows = [comparison for comparison in comparisons if comparison["task"] == task]
        for y, row in enumerate(rows):
            colour = "tab:red" if row["significant"] else "tab:green" if row["equivalent"] else "tab:gray"
            ax.plot([POINTS * row["ci_low"], POINTS * row["ci_high"]], [y, y], color=colour, linewidth=4, alpha=0.6)
            ax.plot([POINTS * row["boot_low"], POINTS * row["boot_high"]], [y, y], color="black", linewidth=1)
            if not math.isnan(row.get("hier_low", math.nan)):
                ax.plot([POINTS * row["hier_low"], POINTS * row["hier_high"]], [y + 0.2] * 2, color="tab:blue",
                        linewidth=1.5)
            ax.plot(POINTS * row["mean_difference"], y, "o", color="black", markersize=4)
        ax.axvspan(-margin, margin, color="tab:green", alpha=0.12)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [row["baseline"] for row in rows])
        ax.invert_yaxis()
        ax.set_title(tables.task_label(task))
        ax.set_xlabel(f"{AUTOLORA_METHOD} − baseline (points)")
    fig.suptitle(f"{LEVEL:.0%} intervals (thick: t; thin: bootstrap over seeds; blue: over seeds × examples); "
                 f"band: ±{margin:g} point; "
                 "red: differs, green: equivalent, grey: inconclusive", fontsize=8)
    figures.save_figure_atomically(fig, out_png)


def write_differences(comparisons: Sequence[Mapping], out_prefix: str | os.PathLike, out_png: str | os.PathLike,
                      caption: str, source: str) -> None:
    """The differences table (md, tex, csv) and figure of Holm-corrected comparisons."""
    tables.write_table(differences_table(comparisons, source), out_prefix, caption)
    differences_figure(comparisons, out_png)


# ---- pooling seeds across runs of the same settings

SEARCH_KEYS = {field.name for field in fields(SearchSettings)}


def _settings(run_dir: Path) -> dict:
    provenance = run_dir / "provenance.json"
    if not provenance.is_file():
        raise DataError(f"{provenance}: missing (a finished run writes it); cannot check the run's settings")
    config = json.loads(provenance.read_text())["config"]
    settings = {key: value for key, value in config.items() if key not in POOLABLE_KEYS}
    if "search" in settings:  # as the search reads it: an absent key (hvp, train_base) is its default
        search = settings["search"]
        known = {key: value for key, value in search.items() if key in SEARCH_KEYS}
        settings["search"] = {**search, **asdict(SearchSettings(**known))}
    return settings


UNKNOWN_CODE = "unknown"  # how --harmless names the code of a run whose provenance predates code.commit


def code_commit(run_dir: Path) -> str:
    """The git commit a run's provenance records (``unknown`` for runs before it did)."""
    code = json.loads((run_dir / "provenance.json").read_text()).get("code") or {}
    return code.get("commit") or UNKNOWN_CODE


def check_poolable(run_dirs: Sequence[Path], harmless: Sequence[str] = ()) -> None:
    """Runs may pool their seeds only if every setting but the run's name, seeds and methods is
    the same, and so is their code: the same git commit, or a commit that ``harmless`` names (a
    prefix will do) as differing from the first run's in nothing that changes a number. Else a
    DataError names the first difference."""
    reference, commit = _settings(run_dirs[0]), code_commit(run_dirs[0])
    for run_dir in run_dirs[1:]:
        other = _settings(run_dir)
        for key in sorted(set(reference) | set(other)):
            if reference.get(key) != other.get(key):
                raise DataError(f"{run_dir} and {run_dirs[0]} differ in config key {key!r}: their seeds "
                                "are not runs of one experiment and cannot be pooled")
        other_commit = code_commit(run_dir)
        if other_commit != commit and not any(other_commit.startswith(name) for name in harmless):
            raise DataError(f"{run_dir} ran code {other_commit}, {run_dirs[0]} code {commit}: pool them only if "
                            f"the code changed nothing they computed, and say so with --harmless {other_commit[:12]}")


def pooled_examples(run_dirs: Sequence[Path]) -> dict[str, Examples]:
    """The runs' per-example outputs, for tasks whose labels every run that has them wrote alike."""
    label_paths: dict[str, Path] = {}
    for run_dir in run_dirs:
        for path in sorted(run_dir.rglob(LABELS_FILE)):
            task = path.parent.name
            if task in label_paths and not np.array_equal(read_values(path), read_values(label_paths[task])):
                raise DataError(f"{path} and {label_paths[task]} hold different evaluation labels for {task}")
            label_paths.setdefault(task, path)
    metric_paths = [path for run_dir in run_dirs for path in sorted(run_dir.rglob("metrics.json"))]
    return load_examples(metric_paths, label_paths)


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


def pooled_comparisons(records: Sequence[Mapping], examples: Mapping[str, Examples] | None = None) -> list[dict]:
    """Every baseline against AutoLoRA on the seeds the two share (a baseline that ran in only
    some of the runs is compared on those seeds), Holm-corrected together."""
    records = in_hundredths_of_a_point(records)
    seeds: dict[tuple[str, str], set[int]] = {}
    for record in records:
        seeds.setdefault((record["task"], record["method"]), set()).add(record["seed"])
    comparisons = []
    for (task, method), method_seeds in sorted(seeds.items(), key=lambda item: tables.task_sort_key(item[0][0])):
        if method == AUTOLORA_METHOD or (task, AUTOLORA_METHOD) not in seeds:
            continue
        shared = sorted(method_seeds & seeds[(task, AUTOLORA_METHOD)])
        pair = [record for record in records if record["task"] == task and record["seed"] in shared
                and record["method"] in (AUTOLORA_METHOD, method)]
        comparisons += compare_with_autolora(pair, task, shared, examples=(examples or {}).get(task))
    return holm_corrected(comparisons)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autolora intervals", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished runs' folders (results/<run>)")
    parser.add_argument("--out", type=Path, required=True, help="folder for differences.{md,tex,csv,png}")
    parser.add_argument("--harmless", nargs="+", default=[], metavar="COMMIT",
                        help=f"commits (or prefixes; '{UNKNOWN_CODE}' for runs that recorded none) whose runs may "
                             "pool with the first run's although their code differs: you vouch that the "
                             "difference changes no number they computed")
    args = parser.parse_args(argv)
    try:
        check_poolable(args.runs, args.harmless)
        comparisons = pooled_comparisons(pooled_records(args.runs), pooled_examples(args.runs))
        if not comparisons:
            raise DataError(f"no baseline beside {AUTOLORA_METHOD} in {[str(run) for run in args.runs]}")
        source = "seeds pooled from " + ", ".join(str(run) for run in args.runs) + (
            f" (code of commits {', '.join(args.harmless)} declared harmless)" if args.harmless else "")
        write_differences(comparisons, args.out / "differences", args.out / "differences.png",
                          f"AutoLoRA minus each baseline, {source}", source)
    except DataError as exc:
        print(f"autolora intervals: {exc}", file=sys.stderr)
        return 2
    print(f"autolora intervals: {len(comparisons)} comparisons → {args.out}/differences.md")
    return 0
