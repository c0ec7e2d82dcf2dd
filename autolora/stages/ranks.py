"""The ranks stage's records: AutoLoRA's ranks from its search (the rule itself is the method
core's, ``autolora.core.ranks``), one rank everywhere (LoRA r, the grid's candidates), and the
equal-budget controls, AutoLoRA's total rank allocated without the search.
"""

from __future__ import annotations

import numpy as np

from autolora.core.ranks import extract_ranks, resolved_threshold
from autolora.methods import RANDOM_BUDGET, UNIFORM_BUDGET


def rank_record(search: dict, threshold: float | None = None, form: str = "softmax") -> dict:
    """The ranks stage's output for one search record (λ defaults to 1/k)."""
    threshold = resolved_threshold(search["k"], threshold)
    ranks = extract_ranks(search["alpha"], threshold, form)
    return {
        "task": search["task"],
        "seed": search["seed"],
        "k": search["k"],
        "threshold": threshold,
        "form": form,
        "ranks": ranks,
        "total_rank": sum(ranks.values()),
    }


def uniform_rank_record(modules: list[str], rank: int, task: str, seed: int) -> dict:
    """The ranks of a baseline with one rank r on every adapted module (LoRA r, grid runs)."""
    ranks = {name: rank for name in modules}
    return {
        "task": task,
        "seed": seed,
        "k": rank,
        "threshold": None,
        "form": "uniform",
        "ranks": ranks,
        "total_rank": sum(ranks.values()),
    }


# ---- equal-budget controls: AutoLoRA's total rank, allocated without the search

def _control_record(autolora: dict, ranks: dict[str, int], form: str) -> dict:
    return {**{key: autolora[key] for key in ("task", "seed", "k")}, "threshold": None, "form": form,
            "ranks": ranks, "total_rank": sum(ranks.values())}


def _check_budget(total: int, n_modules: int, k: int) -> None:
    if not n_modules <= total <= n_modules * k:
        raise ValueError(f"a total rank of {total} cannot give each of {n_modules} matrices a rank in 1..{k}")


def uniform_budget_ranks(autolora: dict, seed: int) -> dict:
    """``lora_budget``: AutoLoRA's total rank T over its n matrices as evenly as ranks allow,
    T // n everywhere and one more on T mod n matrices drawn without replacement (numpy's
    generator seeded with the run seed). Drawn, not the first in model order: those would be the
    lower layers' query and value matrices, the very preference AutoLoRA's search shows, and the
    control must have none of its own."""
    modules, total, k = list(autolora["ranks"]), autolora["total_rank"], autolora["k"]
    _check_budget(total, len(modules), k)
    base, extra = divmod(total, len(modules))
    lucky = set(np.random.default_rng(seed).choice(len(modules), size=extra, replace=False).tolist())
    return _control_record(autolora, {m: base + (i in lucky) for i, m in enumerate(modules)}, UNIFORM_BUDGET)


def random_budget_ranks(autolora: dict, seed: int) -> dict:
    """``random_ranks``: AutoLoRA's total rank dealt at random, every matrix in 1..k: each starts
    at 1, then each remaining unit goes to a matrix drawn uniformly among those below k
    (numpy's generator seeded with the run seed)."""

    modules, total, k = list(autolora["ranks"]), autolora["total_rank"], autolora["k"]
    _check_budget(total, len(modules), k)
    ranks = dict.fromkeys(modules, 1)
    generator = np.random.default_rng(seed)
    for _ in range(total - len(modules)):
        open_modules = [m for m in modules if ranks[m] < k]
        ranks[open_modules[generator.integers(len(open_modules))]] += 1
    return _control_record(autolora, ranks, RANDOM_BUDGET)


# A control's allocation, by the name its registry entry gives (``Method.allocate``).
ALLOCATIONS = {UNIFORM_BUDGET: uniform_budget_ranks, RANDOM_BUDGET: random_budget_ranks}


def control_ranks(allocation: str, autolora: dict, seed: int) -> dict:
    """An equal-budget control's ranks record from AutoLoRA's of the same task and seed."""
    return ALLOCATIONS[allocation](autolora, seed)
