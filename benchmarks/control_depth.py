"""Do the equal-budget controls prefer some layers (issue #24)? For every task of a finished run:
the rank ~ depth Spearman correlation (pooled over seeds, with its permutation p) and the mean
rank of query minus value matrices of each control's committed ranks, and of the neutral
``lora_budget`` allocation today's code makes from the same AutoLoRA ranks records (leftover
ranks drawn at random, seeded), and of AutoLoRA's own ranks for comparison.

    python benchmarks/control_depth.py results/reference/cpu > results/reference/cpu/control_depth.txt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autolora.reporting.diagnostics import control_diagnostics
from autolora.stages.ranks import uniform_budget_ranks


def ranks_records(run: Path, task: str, method: str | None) -> list[dict]:
    seeds = sorted(run.glob(f"*/{task}/seed*"), key=lambda folder: int(folder.name.removeprefix("seed")))
    paths = [seed / (f"{method}/ranks.json" if method else "ranks.json") for seed in seeds]
    return [json.loads(path.read_text()) for path in paths if path.is_file()]


def row(name: str, records: list[dict]) -> str:
    found = control_diagnostics(records)
    return (f"{name:<34} seeds {len(records)}  rank~depth {found['rank_depth_spearman']:+.2f} "
            f"(p {found['rank_depth_p']:.3f})  q-v {found['rank_q_minus_v']:+.2f}  "
            f"totals {found['total_rank']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run's results folder")
    run = parser.parse_args().run
    tasks = sorted({folder.parent.name for folder in run.glob("*/*/seed*")})
    for task in tasks:
        autolora = ranks_records(run, task, None)
        print(f"{task}:")
        print(row("autolora (the search)", autolora))
        for method in ("lora_budget", "random_ranks"):
            if committed := ranks_records(run, task, method):
                print(row(f"{method} (committed)", committed))
        print(row("lora_budget (neutral, today's code)",
                  [uniform_budget_ranks(record, record["seed"]) for record in autolora]))


if __name__ == "__main__":
    main()
