"""What each method costs, from the TSV files of Snakemake's ``benchmark:`` directive.

The caller (a Snakemake rule) says which file belongs to which run, as records
``{task, method, stage, seed, path}``; nothing here guesses from file names.
From them come per-seed costs, their mean ± std over seeds, a cost table
(tables/cost.{md,tex,csv} through ``tables.write_table``) with the ratio of
AutoLoRA's cost to a grid search over LoRA ranks, and a quality-against-cost
figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from autolora.reporting import figures, tables
from autolora.errors import DataError
from autolora.methods import ADALORA, is_grid_run, uniform_rank
from autolora.reporting.stats import AUTOLORA_METHOD

# Benchmark column -> our name; seconds for times, MB for memory (Snakemake's units).
BENCHMARK_COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "max_rss_mb"}
COSTS = tuple(BENCHMARK_COLUMNS.values())
# Snakemake writes NA (or - for a None) when a job ended before its first resource sample.
NOT_MEASURED = {"NA", "-"}
STAGES = ("search", "retrain", "evaluate")
TOTAL_STAGE = "total"
RECORD_KEYS = ("task", "method", "stage", "seed", "path")
GRID_METHOD = "grid search"
# End to end, each method's one final evaluation included: AutoLoRA's search, retraining and
# evaluation; the grid's candidates (trained, then scored on search-validation) and its final
# run (the chosen rank retrained on the full training data, then evaluated).
AUTOLORA_COST_STAGES = ("search", "retrain", "evaluate")
GRID_COST_STAGES = ("retrain", "evaluate")
SECONDS_PER_MINUTE = 60.0
NOT_MEASURED_CELL = "n/a"
# Okabe-Ito: colour-blind-safe, and each method keeps its colour across panels.
_METHOD_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
                   "#000000")
_METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# A log axis narrower than this factor gets no labelled tick and crowded minor
# labels; panels are widened to it around their points.
_MIN_LOG_SPAN = 4.0


# --------------------------------------------------------------------------
# Reading benchmark files
# --------------------------------------------------------------------------

def read_benchmark(path: str | os.PathLike) -> dict[str, float]:
    """Wall time (s), CPU time (s) and peak RSS (MB) of one Snakemake benchmark file.

    Several rows are repeats of the job (``benchmark: repeat(...)``) and are
    averaged. A value Snakemake could not measure (NA) is NaN; if some
    repeats measured it, the mean is over those. Raises DataError naming the
    file (and line, column) when it is missing, empty or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"benchmark file {path} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"benchmark file {path} is empty; expected a header and at least one row")
    header = lines[0].split("\t")
    missing = [column for column in BENCHMARK_COLUMNS if column not in header]
    if missing:
        raise DataError(f"{path}, line 1: the header lacks column(s) {missing}; got {header}")
    rows = [_parse_benchmark_row(path, number, line, header)
            for number, line in enumerate(lines[1:], start=2)]
    if not rows:
        raise DataError(f"benchmark file {path} has a header but no rows")
    means = {name: _mean_of_measured([row[name] for row in rows]) for name in COSTS}
    means["repeats"] = len(rows)
    return means


def _parse_benchmark_row(path: Path, number: int, line: str, header: list[str]) -> dict[str, float]:
    fields = line.split("\t")
    if len(fields) != len(header):
        raise DataError(f"{path}, line {number}: {len(fields)} fields, the header has {len(header)}")
    by_column = dict(zip(header, fields))
    row = {name: _parse_value(path, number, column, by_column[column])
           for column, name in BENCHMARK_COLUMNS.items()}
    # Snakemake always knows the wall time; without it the row is not a measurement.
    if not row["wall_s"] >= 0:
        raise DataError(f"{path}, line {number}, column s: wall time {by_column['s']!r} "
                        "is not a non-negative number")
    return row


def _parse_value(path: Path, number: int, column: str, text: str) -> float:
    if text.strip() in NOT_MEASURED:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}, line {number}, column {column}: {text!r} is not a number") from None


def _mean_of_measured(values: list[float]) -> float:
    measured = [value for value in values if not math.isnan(value)]
    return float(np.mean(measured)) if measured else math.nan


def read_benchmarks(benchmark_records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per record: task, method, stage, seed, path and the costs of its file.

    Raises ValueError for a record without one of RECORD_KEYS, with an
    unknown stage, or repeating a (task, method, stage, seed); DataError for a
    missing or malformed file.
    """
    rows, seen = [], set()
    for index, record in enumerate(benchmark_records):
        _check_benchmark_record(index, record)
        key = tuple(record[name] for name in RECORD_KEYS[:-1])
        if key in seen:
            raise ValueError(f"two benchmark records for task={key[0]} method={key[1]} "
                             f"stage={key[2]} seed={key[3]}")
        seen.add(key)
        costs = read_benchmark(record["path"])
        rows.append({**{name: record[name] for name in RECORD_KEYS},
                     **{name: costs[name] for name in COSTS}})
    if not rows:
        raise ValueError("no benchmark records")
    return pd.DataFrame(rows)


def _check_benchmark_record(index: int, record: Mapping) -> None:
    absent = [name for name in RECORD_KEYS if name not in record]
    if absent:
        raise ValueError(f"benchmark record {index} lacks key(s) {absent}: {dict(record)}")
    if record["stage"] not in STAGES:
        raise ValueError(f"benchmark record {index} ({record['path']}): unknown stage "
                         f"{record['stage']!r}; known: {list(STAGES)}")


# --------------------------------------------------------------------------
# Per-seed costs and their summary over seeds
# --------------------------------------------------------------------------

def per_seed_costs(benchmark_records: Iterable[Mapping], expected_seeds: Sequence[int],
                   grid_methods: Sequence[str] = ()) -> pd.DataFrame:
    """Costs per (task, method, stage, seed), with derived rows added.

    Derived rows: stage "total" of every method (times summed over its
    stages, peak RSS their maximum; a stage Snakemake did not measure makes
    the total NaN, since it would only be a lower bound); and, for every task
    that has ``grid_methods``, method GRID_METHOD with its retrain, evaluate
    and total summed over the grid's runs per seed.

    Every (task, method, stage) must have exactly ``expected_seeds``, and a
    task with some grid methods must have all of them: otherwise ValueError
    naming task, method, stage and seed (a missing run would understate a cost).
    """
    costs = read_benchmarks(benchmark_records)
    _check_seeds(costs, list(expected_seeds))
    totals = _stage_totals(costs)
    costs = pd.concat([costs.drop(columns="path"), totals], ignore_index=True)
    grid = _grid_costs(costs, list(grid_methods))
    return pd.concat([costs, grid], ignore_index=True) if len(grid) else costs


def _check_seeds(costs: pd.DataFrame, expected_seeds: list[int]) -> None:
    if not expected_seeds:
        raise ValueError("expected_seeds is empty")
    for (task, method, stage), group in costs.groupby(["task", "method", "stage"], sort=False):
        where = f"task={task} method={method} stage={stage}"
        seeds = set(group["seed"])
        unexpected = sorted(seeds - set(expected_seeds))
        if unexpected:
            raise ValueError(f"unexpected seed(s) {unexpected} for {where}; expected {expected_seeds}")
        missing = [seed for seed in expected_seeds if seed not in seeds]
        if missing:
            raise ValueError(f"missing benchmark for {where} seed={', '.join(map(str, missing))}")


def _stage_totals(costs: pd.DataFrame) -> pd.DataFrame:
    """All stages of a run, per seed: times add up, memory peaks at the largest stage."""
    grouped = costs.groupby(["task", "method", "seed"], sort=False)
    totals = grouped.agg(wall_s=("wall_s", _sum_or_nan), cpu_s=("cpu_s", _sum_or_nan),
                         max_rss_mb=("max_rss_mb", _max_or_nan)).reset_index()
    totals["stage"] = TOTAL_STAGE
    return totals


def _sum_or_nan(values: pd.Series) -> float:
    return values.sum(skipna=False)


def _max_or_nan(values: pd.Series) -> float:
    return values.max(skipna=False)


def _mean_or_nan(values: pd.Series) -> float:
    return values.mean(skipna=False)


def _grid_costs(costs: pd.DataFrame, grid_methods: list[str]) -> pd.DataFrame:
    """GRID_METHOD rows: each grid stage summed over the grid's runs, per task and seed."""
    if not grid_methods:
        return pd.DataFrame()
    members = costs[costs["method"].isin(grid_methods)]
    for task, runs in members.groupby("task", sort=False):
        _check_grid_is_complete(task, runs, grid_methods)
    stages = members[members["stage"].isin(GRID_COST_STAGES)]
    grid = stages.groupby(["task", "stage", "seed"], sort=False).agg(
        wall_s=("wall_s", _sum_or_nan), cpu_s=("cpu_s", _sum_or_nan),
        max_rss_mb=("max_rss_mb", _max_or_nan)).reset_index()
    grid["method"] = GRID_METHOD
    return pd.concat([grid, _stage_totals(grid)], ignore_index=True)


def _check_grid_is_complete(task: str, runs: pd.DataFrame, grid_methods: list[str]) -> None:
    for method in grid_methods:
        stages = set(runs.loc[runs["method"] == method, "stage"])
        missing = [stage for stage in GRID_COST_STAGES if stage not in stages]
        if missing:
            raise ValueError(f"grid search of task={task} lacks method={method} "
                             f"stage(s) {missing}; its cost would be understated")


def summarise_costs(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1; NaN for one seed) over seeds per (task, method, stage).

    Columns: task, method, stage, n_seeds, seeds and, for each of wall_s,
    cpu_s and max_rss_mb, ``<cost>_mean`` and ``<cost>_std``. A cost some
    seed did not measure has a NaN mean (an average over the others would
    pretend to a precision it lacks).
    """
    grouped = per_seed.groupby(["task", "method", "stage"], sort=False)
    summary = grouped.agg(n_seeds=("seed", "size"),
                          seeds=("seed", lambda seeds: ";".join(map(str, sorted(seeds)))))
    for cost in COSTS:
        summary[f"{cost}_mean"] = grouped[cost].agg(_mean_or_nan)
        summary[f"{cost}_std"] = grouped[cost].agg(lambda values: values.std(skipna=False))
    return summary.reset_index()


def grid_ratios(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per task with both AutoLoRA and a grid search: the mean over seeds of
    AutoLoRA's search + retrain + evaluate cost, of the grid's summed retrain + evaluate
    cost, and their ratio (of the means), for wall and CPU time."""
    autolora = _mean_cost_of(per_seed, AUTOLORA_METHOD, AUTOLORA_COST_STAGES)
    grid = _mean_cost_of(per_seed, GRID_METHOD, GRID_COST_STAGES)
    ratios = autolora.merge(grid, left_index=True, right_index=True, suffixes=("_autolora", "_grid"))
    for cost in ("wall_s", "cpu_s"):
        ratios[f"{cost}_ratio"] = ratios[f"{cost}_autolora"] / ratios[f"{cost}_grid"]
    return ratios.reset_index()


def single_run_baselines(per_seed: pd.DataFrame) -> list[str]:
    """The one-run methods AutoLoRA's cost is also set against, where the run has them: the
    first uniform-rank LoRA (lora_r{r}) and AdaLoRA, which finds its ranks inside one run."""
    methods = list(dict.fromkeys(per_seed["method"]))
    lora = [method for method in methods if uniform_rank(method) is not None and not is_grid_run(method)]
    return lora[:1] + [method for method in methods if method == ADALORA]


def single_run_ratios(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per task with AutoLoRA and a single-run baseline (``single_run_baselines``): AutoLoRA's
    mean end-to-end wall time over the baseline's (``wall_s_autolora``, ``wall_s_baseline``,
    ``wall_s_ratio``), one row per (task, baseline)."""
    autolora = _mean_cost_of(per_seed, AUTOLORA_METHOD, AUTOLORA_COST_STAGES)["wall_s"]
    rows = []
    for baseline in single_run_baselines(per_seed):
        costs = _mean_cost_of(per_seed, baseline, STAGES)["wall_s"]
        for task in autolora.index.intersection(costs.index):
            rows.append({"task": task, "baseline": baseline, "wall_s_autolora": autolora[task],
                         "wall_s_baseline": costs[task], "wall_s_ratio": autolora[task] / costs[task]})
    return pd.DataFrame(rows, columns=["task", "baseline", "wall_s_autolora", "wall_s_baseline", "wall_s_ratio"])


def _mean_cost_of(per_seed: pd.DataFrame, method: str, stages: Sequence[str]) -> pd.DataFrame:
    rows = per_seed[(per_seed["method"] == method) & per_seed["stage"].isin(stages)]
    per_task_and_seed = rows.groupby(["task", "seed"])[["wall_s", "cpu_s"]].agg(_sum_or_nan)
    # A seed without a measurement makes the mean NaN, as in summarise_costs.
    return per_task_and_seed.groupby("task").agg(_mean_or_nan)


# --------------------------------------------------------------------------
# Cost table
# --------------------------------------------------------------------------

def cost_table(benchmark_records: Iterable[Mapping], param_records: Iterable[Mapping],
               expected_seeds: Sequence[int], grid_methods: Sequence[str] = ()) -> pd.DataFrame:
    """Display table for ``tables.write_table``: one row per task and method.

    Columns: wall time of search / retrain / evaluate / all stages and CPU
    time of all stages (minutes), peak RSS over the stages (MB), trainable
    parameters (mean over seeds of ``param_records``' ``trainable_params``;
    records are {task, method, seed, trainable_params}, e.g. evaluate's
    metric records) and, on AutoLoRA's row, its search + retrain wall and CPU
    time over the grid search's, when the task has both. Cells are mean ± std
    over ``expected_seeds``; ``grid_methods`` are the LoRA runs that make up the
    grid search (one per candidate rank, and the final run of the chosen rank). Notes go to ``attrs["notes"]``, the tidy
    per-(task, method, stage) summary with the ratios to ``attrs["tidy"]``.
    """
    per_seed = per_seed_costs(benchmark_records, expected_seeds, grid_methods)
    summary = summarise_costs(per_seed)
    ratios = grid_ratios(per_seed)
    cells = _ratio_cells(ratios, single_run_ratios(per_seed))
    baselines = single_run_baselines(per_seed)
    params = _mean_trainable_params(param_records, list(expected_seeds))
    rows = [_cost_row(task, method, by_method, params, cells, baselines)
            for (task, method), by_method in _in_table_order(summary)]
    table = pd.DataFrame(rows).set_index("Task")
    table.attrs["notes"] = _cost_notes(summary, list(expected_seeds), list(grid_methods), baselines)
    table.attrs["tidy"] = _tidy_with_ratios(summary, ratios).to_dict("records")
    return table


def _mean_trainable_params(param_records: Iterable[Mapping], expected_seeds: list[int]
                           ) -> dict[tuple[str, str], float]:
    records = list(param_records)
    if not records:
        return {}
    groups = tables.group_by_method_and_task(records, expected_seeds)
    return {(task, method): float(np.mean([record["trainable_params"] for record in group]))
            for (method, task), group in groups.items()}


def _in_table_order(summary: pd.DataFrame):
    """(task, method) groups: tasks in paper order, methods as first met, the grid last."""
    methods = list(dict.fromkeys(summary["method"]))
    methods.sort(key=lambda method: method == GRID_METHOD)
    groups = summary.groupby(["task", "method"], sort=False)
    return sorted(groups, key=lambda item: (tables.task_sort_key(item[0][0]),
                                            methods.index(item[0][1])))


def _ratio_cells(grid: pd.DataFrame, single_run: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(task, column) → AutoLoRA's cost ratio, for the tasks that have that baseline."""
    cells = {}
    for row in grid.itertuples():
        cells[row.task, "Wall vs. grid"], cells[row.task, "CPU vs. grid"] = row.wall_s_ratio, row.cpu_s_ratio
    for row in single_run.itertuples():
        cells[row.task, f"Wall vs. {row.baseline}"] = row.wall_s_ratio
    return cells


def _cost_row(task: str, method: str, cells: pd.DataFrame, params: Mapping,
              ratios: Mapping[tuple[str, str], float], baselines: Sequence[str]) -> dict:
    by_stage = cells.set_index("stage")
    row = {"Task": tables.task_label(task), "Method": method}
    for stage in STAGES:
        row[f"{stage.capitalize()} wall (min)"] = _minutes_cell(by_stage, stage, "wall_s")
    row["Total wall (min)"] = _minutes_cell(by_stage, TOTAL_STAGE, "wall_s")
    row["Total CPU (min)"] = _minutes_cell(by_stage, TOTAL_STAGE, "cpu_s")
    row["Peak RSS (MB)"] = _cost_cell(by_stage, TOTAL_STAGE, "max_rss_mb", scale=1.0, digits=0)
    row[tables.PARAMS_COLUMN] = (tables.human_count(params[task, method])
                                 if (task, method) in params else tables.MISSING_CELL)
    for column in ("Wall vs. grid", "CPU vs. grid", *(f"Wall vs. {baseline}" for baseline in baselines)):
        row[column] = _ratio_cell(task, method, ratios, column)
    return row


def _minutes_cell(by_stage: pd.DataFrame, stage: str, cost: str) -> str:
    return _cost_cell(by_stage, stage, cost, scale=1 / SECONDS_PER_MINUTE, digits=2)


def _cost_cell(by_stage: pd.DataFrame, stage: str, cost: str, scale: float, digits: int) -> str:
    if stage not in by_stage.index:
        return tables.MISSING_CELL
    mean, std = by_stage.at[stage, f"{cost}_mean"], by_stage.at[stage, f"{cost}_std"]
    if math.isnan(mean):
        return NOT_MEASURED_CELL
    text = f"{mean * scale:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {std * scale:.{digits}f}"


def _ratio_cell(task: str, method: str, ratios: Mapping[tuple[str, str], float], column: str) -> str:
    if method != AUTOLORA_METHOD or (task, column) not in ratios:
        return tables.MISSING_CELL
    ratio = ratios[task, column]
    return NOT_MEASURED_CELL if math.isnan(ratio) else f"{ratio:.2f}x"


def _cost_notes(summary: pd.DataFrame, expected_seeds: list[int], grid_methods: list[str],
                baselines: Sequence[str]) -> list[str]:
    seeds = ", ".join(map(str, expected_seeds))
    spread = ("one seed, so no std" if len(expected_seeds) == 1
              else f"mean ± std (ddof=1) over n={len(expected_seeds)} seeds ({seeds})")
    notes = [f"From Snakemake benchmark files: {spread}. Times in minutes of wall clock and of "
             "CPU; peak resident memory (max_rss) in MB. Total: all stages of a run summed per "
             "seed; its peak RSS is the largest stage's. Wall times depend on the machine and "
             "on jobs running beside them; CPU time less so. A job resumed from a checkpoint "
             "counts its last attempt only."]
    if grid_methods and GRID_METHOD in set(summary["method"]):
        notes.append(f"{GRID_METHOD}: one LoRA retrain + evaluate for each of "
                     f"{', '.join(grid_methods)}, summed per seed (the candidates are scored on "
                     "search-validation, the final run of the chosen rank on the evaluation "
                     f"split). Wall (CPU) vs. grid: mean wall (CPU) time of {AUTOLORA_METHOD}'s "
                     f"search + retrain + evaluate over that of the {GRID_METHOD}: both end to "
                     "end, each with its one final evaluation.")
    if baselines:
        notes.append("Wall vs. " + " / ".join(baselines) + f": mean wall time of {AUTOLORA_METHOD} end to end "
                     "over that of one run of the method (retrain + evaluate), on the same data and seeds.")
    if summary[[f"{cost}_mean" for cost in COSTS]].isna().any(axis=None):
        notes.append(f"{NOT_MEASURED_CELL}: Snakemake wrote NA for some seed, the job having "
                     "ended before its first resource sample.")
    return notes


def _tidy_with_ratios(summary: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """The summary, with the grid ratios on AutoLoRA's total rows (NaN elsewhere)."""
    ratio_rows = ratios.assign(method=AUTOLORA_METHOD, stage=TOTAL_STAGE)
    return summary.merge(ratio_rows, on=["task", "method", "stage"], how="left")


# --------------------------------------------------------------------------
# Quality against cost
# --------------------------------------------------------------------------

def quality_cost_figure(benchmark_records: Iterable[Mapping], metric_records: Iterable[Mapping],
                        expected_seeds: Sequence[int], out_png: str | os.PathLike,
                        grid_methods: Sequence[str] = ()) -> Figure:
    """Main metric against total wall time, one panel per task, one point per method.

    x: total wall time over all stages in minutes (log scale, as costs span
    orders of magnitude), whiskers ± std over seeds; y: mean of the task's
    main metric over seeds, whiskers ± std. Every method with metric records
    must have benchmark records (ValueError naming task and method
    otherwise); a method with costs but no metrics is not plotted. A metric
    record of method GRID_METHOD is placed at the grid's summed cost.
    Saved atomically as ``out_png``; returns the figure.
    """
    seeds = list(expected_seeds)
    summary = summarise_costs(per_seed_costs(benchmark_records, seeds, grid_methods))
    totals = summary[summary["stage"] == TOTAL_STAGE].set_index(["task", "method"])
    groups = tables.group_by_method_and_task(list(metric_records), seeds)
    methods = list(dict.fromkeys(method for method, _ in groups))
    tasks = sorted({task for _, task in groups}, key=tables.task_sort_key)
    fig, axes = figures.panel_grid(len(tasks))
    for ax, task in zip(axes, tasks):
        quality = {method: tables.summarise_cell(method, task, group)
                   for (method, group_task), group in groups.items() if group_task == task}
        _plot_quality_cost_panel(ax, task, quality, totals, methods, len(seeds))
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    fig.suptitle("Quality against cost (mean ± std over seeds)")
    figures.save_figure_atomically(fig, out_png)
    return fig


def _plot_quality_cost_panel(ax, task: str, quality: Mapping[str, dict], totals: pd.DataFrame,
                             methods: list[str], n_seeds: int) -> None:
    for method, cell in quality.items():
        if (task, method) not in totals.index:
            raise ValueError(f"task={task} method={method} has metric records but no "
                             "benchmark records, so no cost to plot it at")
        cost = totals.loc[(task, method)]
        style = methods.index(method)
        _, scale = tables.metric_axis(cell["main_metric"])
        ax.errorbar(cost["wall_s_mean"] / SECONDS_PER_MINUTE, scale * cell["mean"],
                    xerr=_zero_if_nan(cost["wall_s_std"]) / SECONDS_PER_MINUTE,
                    yerr=scale * _zero_if_nan(cell["std"]), label=method, capsize=3, linestyle="none",
                    color=_METHOD_COLOURS[style % len(_METHOD_COLOURS)],
                    marker=_METHOD_MARKERS[style % len(_METHOD_MARKERS)])
    main_metrics = {cell["main_metric"] for cell in quality.values()}
    ax.set_xscale("log")
    _widen_log_axis(ax)
    ax.set_xlabel("total wall time (min, log scale)")
    ax.set_ylabel(", ".join(sorted(tables.metric_axis(metric)[0] for metric in main_metrics)))
    ax.set_title(f"{tables.task_label(task)} (n={n_seeds} seeds)")


def _widen_log_axis(ax) -> None:
    """At least _MIN_LOG_SPAN wide around the points' geometric centre, ticks
    labelled as plain numbers (1, 2, 5) rather than powers of ten."""
    low, high = ax.get_xlim()
    if high / low < _MIN_LOG_SPAN:
        centre = math.sqrt(low * high)
        half_span = math.sqrt(_MIN_LOG_SPAN)
        ax.set_xlim(centre / half_span, centre * half_span)
    ax.xaxis.set_major_formatter(LogFormatter())
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def _zero_if_nan(value: float) -> float:
    """One seed has no std; matplotlib wants a number, and no whisker is the honest picture."""
    return 0.0 if math.isnan(value) else float(value)


def _legend_entries(axes) -> tuple[list, list[str]]:
    """Each method once, though it may be missing from some panels."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)
