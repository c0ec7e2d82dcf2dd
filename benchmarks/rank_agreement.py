"""Rank agreement of a cheaper search with the full-cost one (issue #16): for each seed, the
ranks a lever's search found (``ranks.json`` of one run) against those the reference search of the
same task and seed found (another run), beside how well two *different* seeds of the reference
agree, which is what agreement by the search's own seed-to-seed variation looks like.

    python benchmarks/rank_agreement.py results/reference/cpu results/reference/cpu-bucketing --task sst2

Searches that are variants of a run (``search_variants``, searches without ranks.json) are read
from their ``search.json`` (ranks #{w ≥ 1/k}), e.g. within the search-regime study:

    python benchmarks/rank_agreement.py results/reference/cpu-study results/reference/cpu-study \
        --reference-search search_alpha_lr_x10 --lever-search search_double_backward_x10

Per seed: the share of adapted matrices with the same rank, the Pearson correlation of the
per-matrix ranks, and both total ranks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import numpy as np

from autolora.reporting.diagnostics import ranks_from_weights, seed_agreement


def ranks_by_seed(run: Path, family: str, task: str, search: str | None = None) -> dict[int, dict[str, int]]:
    """seed -> per-matrix ranks: the run's ranks.json files, or with ``search`` the named search
    variant's search.json files."""
    pattern = f"seed*/{search}/search.json" if search else "seed*/ranks.json"
    found = {}
    for path in sorted((run / family / task).glob(pattern)):
        record = json.loads(path.read_text())
        found[record["seed"]] = ranks_from_weights(record["weights"]) if search else record["ranks"]
    if not found:
        raise SystemExit(f"{run / family / task}: no {pattern}")
    return found


def agreement(first: dict[str, int], second: dict[str, int]) -> tuple[float, float]:
    """(share of matrices with equal rank, Pearson correlation of the ranks; nan if one is constant)."""
    if first.keys() != second.keys():
        raise SystemExit("the two searches adapted different matrices")
    a, b = (np.array([ranks[name] for name in sorted(first)], dtype=float) for ranks in (first, second))
    return float(np.mean(a == b)), seed_agreement([a, b])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference", type=Path, help="the run of the full-cost search")
    parser.add_argument("lever", type=Path, help="the run of the cheaper search")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--family", default="glue")
    parser.add_argument("--reference-search", help="a search variant of the reference run (its search.json)")
    parser.add_argument("--lever-search", help="a search variant of the lever's run (its search.json)")
    args = parser.parse_args()
    reference = ranks_by_seed(args.reference, args.family, args.task, args.reference_search)
    lever = ranks_by_seed(args.lever, args.family, args.task, args.lever_search)
    seeds = sorted(reference.keys() & lever.keys())
    named = [f"{run}{f' ({search})' if search else ''}" for run, search in
             ((args.lever, args.lever_search), (args.reference, args.reference_search))]
    print(f"{args.task}: {named[0]} against {named[1]}, seeds {seeds}")
    print(f"{'seed':>4} {'same rank':>9} {'corr.':>6} {'total (ref, lever)':>19}")
    rows = []
    for seed in seeds:
        same, correlation = agreement(reference[seed], lever[seed])
        rows.append((same, correlation))
        print(f"{seed:>4} {same:>9.0%} {correlation:>+6.2f} {sum(reference[seed].values()):>9}, "
              f"{sum(lever[seed].values())}")
    across = [agreement(reference[a], reference[b]) for a, b in itertools.combinations(sorted(reference), 2)]
    for label, values in (("lever vs reference, same seed", rows), ("reference, two different seeds", across)):
        print(f"{label:<31} same rank {statistics.mean(v[0] for v in values):.0%}, "
              f"corr. {statistics.mean(v[1] for v in values):+.2f} (means over {len(values)} pairs)")


if __name__ == "__main__":
    main()
