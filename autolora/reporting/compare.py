"""Put a finished run beside a reference run (the committed ``results/reference/<run>``): the
replication's own reproducibility check.

For every table cell (task, method) both runs have, the main metric's mean over seeds in each
run, the difference, and the difference in units of the reference's seed standard deviation;
and per seed whether the two values are identical (same seed, same numbers: on the same kind of
machine they should be). Cells only one run has are listed as such.

    autolora compare RUN_DIR REFERENCE_DIR [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from autolora.plumbing import atomic
from autolora.errors import DataError

Cell = tuple[str, str]  # (task, method)


def main_metric_values(root: str | Path) -> dict[Cell, dict[int, float]]:
    """The main metric of every metrics.json under ``root``, by (task, method) and seed."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a run's results, e.g. results/cpu)")
    cells: dict[Cell, dict[int, float]] = {}
    for path in sorted(root.rglob("metrics.json")):
        record = json.loads(path.read_text())
        value = record["metrics"].get(record["main_metric"])
        cells.setdefault((record["task"], record["method"]), {})[record["seed"]] = value
    if not cells:
        raise DataError(f"{root}: no metrics.json under it (has the run finished?)")
    return cells


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def compare_cells(run: dict[Cell, dict[int, float]], reference: dict[Cell, dict[int, float]]) -> list[dict]:
    rows = []
    for cell in sorted(set(run) | set(reference)):
        mine, theirs = run.get(cell), reference.get(cell)
        row = {"task": cell[0], "method": cell[1]}
        if mine is None or theirs is None:
            rows.append({**row, "status": "only in the reference" if mine is None else "only in this run"})
            continue
        if any(value is None for value in [*mine.values(), *theirs.values()]):
            rows.append({**row, "status": "metric undefined for some seed"})
            continue
        run_mean, _ = _mean_std(list(mine.values()))
        reference_mean, reference_std = _mean_std(list(theirs.values()))
        difference = run_mean - reference_mean
        shared = sorted(set(mine) & set(theirs))
        rows.append({
            **row,
            "status": "compared",
            "seeds": shared,
            "run_mean": run_mean,
            "reference_mean": reference_mean,
            "reference_std": reference_std,
            "difference": difference,
            "difference_in_std": difference / reference_std if reference_std > 0 else math.nan,
            "identical_seeds": sum(mine[seed] == theirs[seed] for seed in shared),
        })
    return rows


def markdown(rows: list[dict], run: str, reference: str) -> str:
    lines = [f"Run `{run}` beside reference `{reference}`: main metric, mean over seeds (x100); "
             "difference in units of the reference's seed std (ddof=1; n/a with one seed or std 0).", "",
             "| task | method | run | reference | difference | in ref. std | identical seeds |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["status"] != "compared":
            lines.append(f"| {row['task']} | {row['method']} | {row['status']} | | | | |")
            continue
        in_std = "n/a" if math.isnan(row["difference_in_std"]) else f"{row['difference_in_std']:+.2f}"
        lines.append(f"| {row['task']} | {row['method']} | {100 * row['run_mean']:.2f} | "
                     f"{100 * row['reference_mean']:.2f} | {100 * row['difference']:+.2f} | {in_std} | "
                     f"{row['identical_seeds']} of {len(row['seeds'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autolora compare", description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a finished run's results folder, e.g. results/cpu")
    parser.add_argument("reference", help="the reference, e.g. results/reference/cpu")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    try:
        rows = compare_cells(main_metric_values(args.run), main_metric_values(args.reference))
    except DataError as error:
        print(f"autolora compare: error: {error}", file=sys.stderr)
        return 2
    table = markdown(rows, args.run, args.reference)
    if args.out:
        atomic.write_text(args.out, table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
