"""Paper-style tables from the pipeline's per-job metrics records: a family's shared table (the
paper's GLUE table) and the per-task tables (``family_table``, ``metrics_table``), written as Markdown, LaTeX and CSV (``write_table``),
and the task labels and metric scales every report shares.

Every output is written to a temporary file in the target directory and then renamed over the
target, so a crash or a concurrent reader (Snakemake checks outputs) never sees a half-written
file.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from autolora.plumbing import atomic
from autolora.families import MetricColumn
from autolora.families.base import is_benchmark_task, metric_column, task_label, task_sort_key

AVG_COLUMN = "Avg."
PARAMS_COLUMN = "# trainable params"
# The method tables count what each method adds (LoRA, with biases where they train; every
# parameter for full fine-tuning) apart from the task head every method trains alike (GLUE's
# pooler + classifier is several times AutoLoRA's LoRA count). GLUE's are means over its tasks.
LORA_PARAMS_COLUMN = "# LoRA params"
HEAD_PARAMS_COLUMN = "# head params"
PARAMS_NOTE = (f"{LORA_PARAMS_COLUMN}: the adapter's trainable parameters (full_ft: every "
               f"parameter); {HEAD_PARAMS_COLUMN}: the task head's, which every method trains alike.")
SEEDS_COLUMN = "seeds"
DAGGER = "†"
MISSING_CELL = "-"

# How a task's main metric is shown on a figure axis: the tables' scale (×100 for fractions;
# WebNLG's BLEU is 0-100 already) and a label a reader knows.
MAIN_METRIC_AXES = {
    "accuracy": ("accuracy (%)", 100.0),
    "matthews_correlation": ("Matthews corr. ×100", 100.0),
    "pearson": ("Pearson corr. ×100", 100.0),
    "f1": ("F1 (%)", 100.0),
    "spearman": ("Spearman corr. ×100", 100.0),
    "precision": ("precision (%)", 100.0),
    "recall": ("recall (%)", 100.0),
    "BLEU": ("BLEU", 100.0),
    "METEOR": ("METEOR ×100", 100.0),
    "ROUGE_L": ("ROUGE-L ×100", 100.0),
    "BLEU_all": ("BLEU (all categories)", 1.0),
}


def metric_axis(main_metric: str) -> tuple[str, float]:
    """(axis label, scale) of a main metric: the table above, else the column of a family's table
    that shows it (a family from outside this tree declares its metrics there); else as stored."""
    if main_metric in MAIN_METRIC_AXES:
        return MAIN_METRIC_AXES[main_metric]
    column = metric_column(main_metric)
    return (column.label, column.scale) if column else (main_metric, 1.0)


_LATEX_ESCAPES = str.maketrans({
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}", "±": r"$\pm$", DAGGER: r"$^\dagger$",
})


# --------------------------------------------------------------------------
# A family's shared table (GLUE's)
# --------------------------------------------------------------------------

def family_table(metric_records: Iterable[Mapping], family: str, run_info: Mapping,
                 expected_seeds: Sequence[int]) -> pd.DataFrame:
    """Build a family's shared table (the paper's GLUE table): one row per method, one column per
    task of the family.

    Each task cell is "mean ± std" of the task's main metric over seeds, x100,
    one decimal (std with ddof=1; a single seed shows the mean only, and the
    seeds column says n=1). "Avg." averages the per-task means over the tasks
    the method has; "# LoRA params" and "# head params" average over its tasks and seeds.
    Tasks not evaluated on their official dev split get a dagger.

    Only records of ``family`` are used. Every (method, task) present
    must have exactly ``expected_seeds``; a missing, extra or duplicate seed
    raises ValueError, so a failed job can never vanish into an average.

    ``run_info`` (e.g. model, training budget) is printed as a setup note.
    Notes go to ``df.attrs["notes"]``; the tidy long form that
    ``write_table`` saves as CSV goes to ``df.attrs["tidy"]`` as a list of
    dicts (plain data, so pandas can still compare and copy the attrs).
    """
    records = [record for record in metric_records if record["family"] == family]
    if not records:
        raise ValueError(f"no metric records of the {family} family to tabulate")
    groups = group_by_method_and_task(records, list(expected_seeds))
    tidy = pd.DataFrame([summarise_cell(method, task, group)
                         for (method, task), group in groups.items()])
    table = _wide_table(tidy, expected_seeds)
    table.attrs["notes"] = _table_notes(tidy, run_info)
    table.attrs["tidy"] = tidy.to_dict("records")
    return table


def group_by_method_and_task(records: list[Mapping], expected_seeds: list[int]
                             ) -> dict[tuple[str, str], list[Mapping]]:
    """Group metric records by (method, task), ordered by method first appearance,
    then the tasks' table order (``task_sort_key``), each group sorted
    like ``expected_seeds``.

    Every (method, task) present must have exactly ``expected_seeds``: a missing,
    extra or duplicate seed raises ValueError naming task, method and seed.
    """
    if not records:
        raise ValueError("no metric records to group")
    if not expected_seeds:
        raise ValueError("expected_seeds is empty")
    by_seed: dict[tuple[str, str], dict[int, Mapping]] = defaultdict(dict)
    for record in records:
        task, method, seed = record["task"], record["method"], record["seed"]
        if seed not in expected_seeds:
            raise ValueError(f"unexpected seed {seed} for task={task} method={method}; "
                             f"expected seeds {expected_seeds}")
        if seed in by_seed[method, task]:
            raise ValueError(f"duplicate record for task={task} method={method} seed={seed}")
        by_seed[method, task][seed] = record
    for (method, task), seeds in by_seed.items():
        missing = [seed for seed in expected_seeds if seed not in seeds]
        if missing:
            raise ValueError(f"missing metrics record for task={task} method={method} "
                             f"seed={', '.join(map(str, missing))}")
    methods = list(dict.fromkeys(record["method"] for record in records))
    keys = sorted(by_seed, key=lambda key: (methods.index(key[0]), task_sort_key(key[1])))
    return {key: [by_seed[key][seed] for seed in expected_seeds] for key in keys}


def summarise_cell(method: str, task: str, group: list[Mapping]) -> dict:
    """One tidy row: main-metric mean/std on the metric's own (0-1) scale,
    the mean of every reported metric, and what the cell was computed from."""
    where = f"task={task} method={method}"
    main_metric = the_same_in_all(group, "main_metric", where)
    values = np.array([record["metrics"][main_metric] for record in group], dtype=float)
    metric_names = sorted({name for record in group for name in record["metrics"]})
    row = {
        "method": method,
        "task": task,
        "main_metric": main_metric,
        "mean": values.mean(),
        "std": values.std(ddof=1) if len(values) > 1 else math.nan,
        "n": len(values),
        "seeds": ";".join(str(record["seed"]) for record in group),
        "eval_split": the_same_in_all(group, "eval_split", where),
        "eval_split_official": the_same_in_all(group, "eval_split_official", where),
        "trainable_params": float(np.mean([record["trainable_params"] for record in group])),
        "head_params": float(np.mean([record["head_params"] for record in group])),
        **_trivial_baseline(group, main_metric, where),
    }
    for name in metric_names:
        row[f"{name}_mean"] = float(np.mean([record["metrics"][name] for record in group]))
    return row


def _trivial_baseline(group: list[Mapping], main_metric: str, where: str) -> dict:
    """What learning nothing scores on the cell's evaluation labels (evaluate records it)."""
    if not all("trivial_baseline" in record for record in group):
        return {}
    baselines = [{**record["trivial_baseline"], "value": record["trivial_baseline"][main_metric]}
                 for record in group]
    return {"trivial_" + key: the_same_in_all(baselines, key, where) for key in ("predictor", "value")}


def the_same_in_all(group: list[Mapping], field: str, where: str):
    """A field that must not vary across seeds (else the mean is meaningless)."""
    values = {record[field] for record in group}
    if len(values) != 1:
        raise ValueError(f"{field} differs across seeds for {where}: {sorted(values, key=str)}")
    return values.pop()


def _averaged(tasks: pd.Series) -> pd.Series:
    """The tasks of the Avg. column: the family's own (GLUE's), so it stays the paper's average; a
    user's tasks (own_tasks) only where the table has none of them."""
    benchmark = tasks.map(is_benchmark_task).astype(bool)
    return benchmark if benchmark.any() else ~benchmark


def _wide_table(tidy: pd.DataFrame, expected_seeds: Sequence[int]) -> pd.DataFrame:
    """Display table: formatted strings, methods x (tasks present, Avg., params, seeds)."""
    tasks = sorted(tidy["task"].unique(), key=task_sort_key)
    unofficial = set(tidy.loc[~tidy["eval_split_official"].astype(bool), "task"])
    headers = {task: task_label(task) + (DAGGER if task in unofficial else "")
               for task in tasks}
    seeds_text = f"{', '.join(map(str, expected_seeds))} (n={len(expected_seeds)})"
    rows = {}
    for method, cells in tidy.groupby("method", sort=False):
        by_task = cells.set_index("task")
        row = {headers[task]: _format_score(by_task.loc[task]) if task in by_task.index
               else MISSING_CELL for task in tasks}
        row[AVG_COLUMN] = f"{100 * cells.loc[_averaged(cells['task']), 'mean'].mean():.1f}"
        row[LORA_PARAMS_COLUMN] = human_count(cells["trainable_params"].mean())
        row[HEAD_PARAMS_COLUMN] = human_count(cells["head_params"].mean())
        row[SEEDS_COLUMN] = seeds_text
        rows[method] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "Method"
    return table


def metrics_table(metric_records: Iterable[Mapping], task: str, columns: Sequence[MetricColumn],
                  run_info: Mapping, expected_seeds: Sequence[int]) -> pd.DataFrame:
    """One task, several metrics: a row per method, a "mean ± std" column per metric.

    Seeds are checked as in ``family_table`` (a missing or extra seed is an error); a metric
    absent from a record (e.g. WebNLG unseen on a subset without unseen entries) shows as
    missing rather than as a number.
    """
    records = [record for record in metric_records if record["task"] == task]
    groups = group_by_method_and_task(records, list(expected_seeds))
    rows, tidy = {}, []
    for (method, _), group in groups.items():
        row = {}
        for column in columns:
            values = [record["metrics"].get(column.metric, math.nan) for record in group]
            stats = _mean_std(values)
            row[column.label] = _format_column(stats, column)
            tidy.append({"method": method, "task": task, "metric": column.metric, **stats,
                         "seeds": ";".join(str(record["seed"]) for record in group)})
        row[LORA_PARAMS_COLUMN] = human_count(float(np.mean([r["trainable_params"] for r in group])))
        row[HEAD_PARAMS_COLUMN] = human_count(float(np.mean([r["head_params"] for r in group])))
        row[SEEDS_COLUMN] = f"{', '.join(map(str, expected_seeds))} (n={len(expected_seeds)})"
        rows[method] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "Method"
    spread = "mean ± std (ddof=1) over seeds" if len(expected_seeds) > 1 else "single seed"
    directions = [c.label for c in columns if c.lower_is_better]
    table.attrs["notes"] = [f"Cells: {spread}."
                            + (f" Lower is better for {', '.join(directions)}." if directions else ""),
                            f"{PARAMS_NOTE} Means over seeds."]
    if run_info:
        table.attrs["notes"].append("Setup: " + ", ".join(f"{key}={value}" for key, value in run_info.items()))
    table.attrs["tidy"] = tidy
    return table


def _mean_std(values: Sequence[float]) -> dict:
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any():
        return {"mean": math.nan, "std": math.nan, "n": int((~np.isnan(array)).sum())}
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else math.nan,
            "n": len(array)}


def _format_column(stats: Mapping, column: MetricColumn) -> str:
    if math.isnan(stats["mean"]):
        return MISSING_CELL
    mean = f"{column.scale * stats['mean']:.{column.decimals}f}"
    if math.isnan(stats["std"]):
        return mean
    return f"{mean} ± {column.scale * stats['std']:.{column.decimals}f}"


def _format_score(cell: pd.Series) -> str:
    mean = f"{100 * cell['mean']:.1f}"
    return mean if cell["n"] == 1 else f"{mean} ± {100 * cell['std']:.1f}"


def human_count(count: float) -> str:
    """Parameter counts the way the paper prints them (0.30M, 125.00M)."""
    if count >= 1e5:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}K"


def _table_notes(tidy: pd.DataFrame, run_info: Mapping) -> list[str]:
    """Footnotes that a reader needs to interpret the numbers correctly."""
    notes = []
    unofficial = tidy[~tidy["eval_split_official"].astype(bool)]
    if not unofficial.empty:
        listed = ", ".join(f"{task_label(row.task)} (split '{row.eval_split}')"
                           for row in _one_row_per_task(unofficial).itertuples())
        notes.append(f"{DAGGER} Not the official GLUE dev set; evaluated on a split "
                     f"held out from the training data: {listed}.")
    metric_names = ", ".join(f"{task_label(row.task)}: {row.main_metric}"
                             for row in _one_row_per_task(tidy).itertuples())
    n_seeds = int(tidy["n"].iloc[0])
    spread = ("single seed (n=1), so no std is shown" if n_seeds == 1
              else f"mean ± std (ddof=1) over n={n_seeds} seeds")
    notes.append(f"Cells: main metric x100, {spread}. Main metrics: {metric_names}.")
    notes.append(f"{PARAMS_NOTE} Both are means over the method's tasks and seeds.")
    if "trivial_value" in tidy:
        trivial = _one_row_per_task(tidy.dropna(subset=["trivial_value"]))
        notes.append("Trivial baselines, what a model that learnt nothing scores on the same labels "
                     "(main metric x100): " + "; ".join(
                         f"{task_label(row.task)} {100 * row.trivial_value:.1f} ({row.trivial_predictor})"
                         for row in trivial.itertuples()) + ".")
    averaged = _averaged(tidy["task"])
    if averaged.any() and not averaged.all():
        notes.append(f"{AVG_COLUMN} averages the GLUE tasks only; the others are the config's own tasks.")
    n_tasks = tidy["task"].nunique()
    for method, cells in tidy.groupby("method", sort=False):
        if len(cells) < n_tasks:
            notes.append(f"{AVG_COLUMN} of {method} covers only {len(cells)} of {n_tasks} tasks.")
    if run_info:
        notes.append("Setup: " + ", ".join(f"{key}={value}" for key, value in run_info.items()))
    return notes


def _one_row_per_task(tidy: pd.DataFrame) -> pd.DataFrame:
    """First row of each task, in paper column order (own tasks after GLUE's)."""
    return tidy.drop_duplicates("task").sort_values("task", key=lambda tasks: tasks.map(task_sort_key))


def write_table(df: pd.DataFrame, out_prefix: str | os.PathLike, caption: str) -> None:
    """Write ``out_prefix``.md, .tex (booktabs) and .csv, each atomically.

    md and tex show the table as built by ``family_table`` with its notes; the
    CSV holds the tidy long form from ``df.attrs["tidy"]`` (one row per
    method x task, metric values on their 0-1 scale) when present, since that
    is what downstream scripts want, and the table itself otherwise.
    """
    prefix = os.fspath(out_prefix)
    notes = df.attrs.get("notes", [])
    atomic.write_text(prefix + ".md", _markdown(df, caption, notes))
    atomic.write_text(prefix + ".tex", _latex(df, caption, notes))
    tidy = pd.DataFrame(df.attrs["tidy"]) if "tidy" in df.attrs else df.reset_index()
    atomic.write_text(prefix + ".csv", tidy.to_csv(index=False))


def _markdown(df: pd.DataFrame, caption: str, notes: list[str]) -> str:
    header = [df.index.name or ""] + [str(column) for column in df.columns]
    body = [[str(index)] + [str(value) for value in row]
            for index, row in zip(df.index, df.itertuples(index=False))]
    align = ["---"] + [":---:"] * len(df.columns)
    lines = [f"Table: {caption}", ""] + [_markdown_row(row) for row in [header, align, *body]]
    return "\n".join(lines + [""] + [f"{note}\n" for note in notes])


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _latex(df: pd.DataFrame, caption: str, notes: list[str]) -> str:
    header = [df.index.name or ""] + [str(column) for column in df.columns]
    body = [[str(index)] + [str(value) for value in row]
            for index, row in zip(df.index, df.itertuples(index=False))]
    lines = [
        "% Generated by autolora.report; needs \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{_latex_escape(caption)}}}",
        f"\\begin{{tabular}}{{l{'c' * len(df.columns)}}}",
        "\\toprule",
        _latex_row(header),
        "\\midrule",
        *[_latex_row(row) for row in body],
        "\\bottomrule",
        "\\end{tabular}",
    ]
    if notes:
        lines += ["\\par\\smallskip", "{\\footnotesize"]
        lines += [_latex_escape(note) + "\\par" for note in notes]
        lines.append("}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def _latex_row(cells: list[str]) -> str:
    return " & ".join(_latex_escape(cell) for cell in cells) + " \\\\"


def _latex_escape(text: str) -> str:
    return text.translate(_LATEX_ESCAPES)


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------

def group_by_task(records: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    by_task = defaultdict(list)
    for record in records:
        by_task[record["task"]].append(record)
    if not by_task:
        raise ValueError("no records to plot")
    return by_task


def setting_of_tasks(task_settings: Mapping[str, dict], section: str, key: str) -> str:
    """A setting of a table's tasks (their config views; task_overrides may change it), for
    captions: the one value they share, or each task's."""
    values = {task: settings[section][key] for task, settings in task_settings.items()}
    if len(set(values.values())) == 1:
        return str(next(iter(values.values())))
    return ", ".join(f"{value} ({task_label(task)})" for task, value in values.items())


def tuning_note(metric_records: Sequence[Mapping]) -> list[str]:
    """The table note on how the methods were tuned (none where no record was tuned)."""
    tuned = [record for record in metric_records if "tuning" in record]
    if not tuned:
        return []
    chosen = {(record["method"], record["task"]): _flat(record["tuning"]["settings"]) for record in tuned}
    how = tuned[0]["tuning"]
    picks = "; ".join(f"{method} on {task_label(task)}: {settings}" for (method, task), settings in chosen.items())
    counts = sorted({len(record["tuning"]["trials"]) for record in tuned})
    trials = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    trials = (f"its trials ({trials} per method; a ladder extends past an end that is chosen; every trial in "
              "tuning/<method>.json)")
    at_limit = sorted({f"{record['method']} on {record['task']}" for record in tuned if record["tuning"].get("at_limit")})
    limit = (f"; chosen at an end of the trials tried (the ladder's hard limit, or the end of listed trials): "
             f"{', '.join(at_limit)}" if at_limit else "")
    metrics = dict.fromkeys((record["task"], record["tuning"]["metric"]) for record in tuned)
    by = (f"the {next(iter(metrics))[1]}" if len({metric for _, metric in metrics}) == 1 else
          "the " + ", ".join(f"{metric} ({task_label(task)})" for task, metric in metrics))
    return [(f"Tuning: every method's retraining settings chosen from {trials} by {by} on the "
             f"search-validation split of seed {how['seed']} (trained on its search-train split; the reported split "
             f"is never read); the chosen: {picks}{limit}.")]


def _flat(settings: Mapping, prefix: str = "") -> str:
    return ", ".join(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else f"{prefix}{key} = {value:g}"
                     if isinstance(value, float) else f"{prefix}{key} = {value}" for key, value in settings.items())
