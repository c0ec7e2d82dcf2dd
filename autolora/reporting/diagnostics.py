"""Rank diagnostics: did the search learn an allocation, or do its ranks look like noise?

Per task, from the AutoLoRA search records of every seed:

* normalised entropy of w = softmax(α) per adapted matrix, H(w) / log k: 1 is the uniform
  initialisation, lower means the search moved α (min and mean over matrices and seeds);
* total rank per seed;
* seed-to-seed agreement: the mean Pearson correlation of the per-matrix ranks over every pair
  of seeds, beside its chance level (the same with the matrix labels permuted within each seed)
  and the permutation p-value, (1 + #{permuted ≥ observed}) / (1 + permutations);
* stability: the share of matrices whose effective rank (#{w_j ≥ 1/k} at a logged step) did not
  change over the last quarter of the logged search steps;
* structure: Spearman correlation of rank with layer depth, and mean rank of q minus v.

Ranks use λ = 1/k on softmax(α), the pipeline's default rule (``autolora.core.ranks``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from autolora.core.ranks import effective_rank, ranks_unchanged
from autolora.reporting.module_names import is_projection, module_positions
from autolora.reporting.tables import task_label

PERMUTATIONS = 2000
PERMUTATION_SEED = 0
LAST_PART = 0.25  # the share of the logged steps over which stability is judged
STOP_AFTER = 10  # logged steps without a rank change: the stop_when_stable rule the table tries


def normalised_entropy(weights: Sequence[float]) -> float:
    """H(w) / log k: 1 for the uniform distribution, 0 for a one-hot one."""
    w = np.clip(np.asarray(weights, dtype=float), 1e-300, None)
    return float(-(w * np.log(w)).sum() / math.log(len(w)))


def ranks_from_weights(weights: Mapping[str, Sequence[float]]) -> dict[str, int]:
    return {module: int(effective_rank(w)) for module, w in weights.items()}


def seed_agreement(rank_vectors: Sequence[Sequence[float]]) -> float:
    """Mean Pearson correlation of the rank vectors over every pair of seeds (NaN where a
    vector is constant: a correlation is undefined there)."""
    correlations = []
    for a, b in itertools.combinations(np.asarray(rank_vectors, dtype=float), 2):
        if a.std() == 0 or b.std() == 0:
            return math.nan
        correlations.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(correlations)) if correlations else math.nan


def permutation_test(rank_vectors: Sequence[Sequence[float]], permutations: int = PERMUTATIONS,
                     seed: int = PERMUTATION_SEED) -> tuple[float, float, float]:
    """(observed agreement, mean agreement with module labels permuted within each seed, p)."""
    vectors = np.asarray(rank_vectors, dtype=float)
    observed = seed_agreement(vectors)
    if math.isnan(observed):
        return observed, math.nan, math.nan
    generator = np.random.default_rng(seed)
    null = np.array([seed_agreement([generator.permutation(v) for v in vectors]) for _ in range(permutations)])
    p_value = (1 + int((null >= observed - 1e-12).sum())) / (1 + permutations)
    return observed, float(null.mean()), p_value


def stable_share(record: Mapping, last_part: float = LAST_PART) -> float:
    """Share of matrices whose effective rank stayed the same over the last part of the logged steps."""
    trajectory = record["trajectory"]
    n_logged = len(trajectory["step"])
    start = min(n_logged - 1, math.floor(n_logged * (1 - last_part)))
    stable = []
    for history in trajectory["weights"].values():
        stable.append(len(set(effective_rank(history[start:]).tolist())) == 1)
    return float(np.mean(stable))


def stopping_rule_effect(record: Mapping, last: int = STOP_AFTER) -> tuple[float, float]:
    """What ``search.stop_when_stable: last`` would have done to this search, replayed on its
    logged trajectory with the search's own test (``ranks.ranks_unchanged``): (share of the
    logged steps it would have run, share of matrices whose rank at that point equals the final
    one). (1, 1) when the rule never fires."""
    weights = record["trajectory"]["weights"]
    final = ranks_from_weights(record["weights"])
    n_logged = len(next(iter(weights.values())))
    for end in range(last, n_logged):
        logged = {module: history[:end + 1] for module, history in weights.items()}
        if ranks_unchanged({"weights": logged}, last):
            same = np.mean([int(effective_rank(history[end])) == final[module] for module, history in weights.items()])
            return (end + 1) / n_logged, float(same)
    return 1.0, 1.0


def depth_trend(rank_vectors: Sequence[Sequence[float]], layers: Sequence[int],
                permutations: int = PERMUTATIONS, seed: int = PERMUTATION_SEED) -> tuple[float, float]:
    """(Spearman correlation of rank with layer index pooled over seeds, two-sided permutation p
    with the layer labels permuted within each seed); NaN where every rank is the same."""
    vectors = np.asarray(rank_vectors, dtype=float)
    if len(set(vectors.ravel().tolist())) < 2:
        return math.nan, math.nan
    pooled_layers = np.tile(np.asarray(layers), len(vectors))
    observed = spearmanr(pooled_layers, vectors.ravel()).statistic
    generator = np.random.default_rng(seed)
    extreme = sum(abs(spearmanr(np.concatenate([generator.permutation(layers) for _ in vectors]),
                                vectors.ravel()).statistic) >= abs(observed) - 1e-12
                  for _ in range(permutations))
    return float(observed), float((1 + extreme) / (1 + permutations))


def allocation_diagnostics(rank_vectors: Sequence[Sequence[int]], modules: Sequence[str]) -> dict:
    """What an allocation looks like across seeds, whatever made it: total rank per seed, seed
    agreement against chance, the trend with depth and the query-over-value preference."""
    agreement, chance, p_value = permutation_test(rank_vectors)
    positions = module_positions(modules)
    layers, matrices = zip(*(positions[module] for module in modules))
    depth, depth_p = depth_trend(rank_vectors, layers, permutations=PERMUTATIONS // 4)
    # q and v whatever attention they sit in (an encoder-decoder's columns are "enc q", "cross v", ...)
    by_matrix = {m: [r for vector in rank_vectors for r, column in zip(vector, matrices) if is_projection(column, m)]
                 for m in ("q", "v")}
    return {
        "modules": len(modules),
        "total_rank": [int(sum(vector)) for vector in rank_vectors],
        "agreement": agreement,
        "agreement_chance": chance,
        "agreement_p": p_value,
        "rank_depth_spearman": depth,
        "rank_depth_p": depth_p,
        "rank_q_minus_v": float(np.mean(by_matrix["q"]) - np.mean(by_matrix["v"]))
        if by_matrix["q"] and by_matrix["v"] else math.nan,
    }


def _same_modules(records: Sequence[Mapping], modules_of) -> list[str]:
    modules = list(modules_of(records[0]))
    for record in records:
        if list(modules_of(record)) != modules:
            raise ValueError(f"task {record['task']} seed {record['seed']}: its modules differ from seed "
                             f"{records[0]['seed']}'s; seeds can only be compared module by module")
    return modules


def task_diagnostics(search_records: Sequence[Mapping]) -> dict:
    """The diagnostics of one task's searches (one record per seed, same modules)."""
    records = sorted(search_records, key=lambda record: record["seed"])
    modules = _same_modules(records, lambda record: record["weights"])
    ranks = [ranks_from_weights(record["weights"]) for record in records]
    vectors = [[per_seed[module] for module in modules] for per_seed in ranks]
    entropies = [normalised_entropy(w) for record in records for w in record["weights"].values()]
    stop_steps, stop_same = zip(*(stopping_rule_effect(record) for record in records))
    return {
        "task": records[0]["task"],
        "seeds": [record["seed"] for record in records],
        "k": records[0]["k"],
        "entropy_min": min(entropies),
        "entropy_mean": float(np.mean(entropies)),
        **allocation_diagnostics(vectors, modules),
        "stable_share": float(np.mean([stable_share(record) for record in records])),
        "stop_rule_steps": float(np.mean(stop_steps)),
        "stop_rule_same_ranks": float(np.mean(stop_same)),
    }


def control_diagnostics(rank_records: Sequence[Mapping]) -> dict:
    """The allocation diagnostics of an equal-budget control's ranks records (one per seed):
    the neutral controls should show no agreement and no trend beyond chance."""
    records = sorted(rank_records, key=lambda record: record["seed"])
    modules = _same_modules(records, lambda record: record["ranks"])
    vectors = [[record["ranks"][module] for module in modules] for record in records]
    return {"task": records[0]["task"], "seeds": [record["seed"] for record in records], "k": records[0]["k"],
            "entropy_min": math.nan, "entropy_mean": math.nan, **allocation_diagnostics(vectors, modules),
            "stable_share": math.nan, "stop_rule_steps": math.nan, "stop_rule_same_ranks": math.nan}


def _number(value: float, digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def rank_stability_table(searches: Mapping[tuple[str, str], Sequence[Mapping]],
                         variants: Mapping[str, Mapping] | None = None,
                         controls: Mapping[tuple[str, str], Sequence[Mapping]] | None = None):
    """One row per (task, search) of ``searches`` (their order; the search is ``autolora`` or a
    ``search_<name>`` variant, whose settings ``variants`` holds), then one per (task, control)
    of ``controls`` (their ranks records; the search columns n/a): the diagnostics formatted,
    the raw ones in ``attrs["tidy"]`` for the CSV, what each column means in ``attrs["notes"]``."""
    import pandas as pd

    rows = [{**task_diagnostics(records), "search": search, "steps": _steps(records)}
            for (_, search), records in searches.items() if records]
    rows += [{**control_diagnostics(records), "search": control, "steps": None}
             for (_, control), records in (controls or {}).items() if records]
    shown = []
    for row in rows:
        shown.append({
            "Task": task_label(row["task"]),
            "search": row["search"],
            "steps": "–" if row["steps"] is None else row["steps"],
            "seeds": len(row["seeds"]),
            "matrices": row["modules"],
            "entropy min / mean": f"{_number(row['entropy_min'], 3)} / {_number(row['entropy_mean'], 3)}",
            "total rank per seed": ", ".join(map(str, row["total_rank"])),
            "seed agreement (chance)": f"{_number(row['agreement'], signed=True)} ({_number(row['agreement_chance'], signed=True)})",
            "permutation p": _number(row["agreement_p"], 3),
            "stable, last quarter": _percent(row["stable_share"]),
            f"stop rule (N={STOP_AFTER}): steps / same ranks":
                f"{_percent(row['stop_rule_steps'])} / {_percent(row['stop_rule_same_ranks'])}",
            "rank ~ depth (Spearman)": _number(row["rank_depth_spearman"], signed=True),
            "depth p": _number(row["rank_depth_p"], 3),
            "rank q − v": _number(row["rank_q_minus_v"], signed=True),
        })
    table = pd.DataFrame(shown).set_index("Task")
    table.attrs["tidy"] = [{**row, "seeds": ";".join(map(str, row["seeds"])),
                            "total_rank": ";".join(map(str, row["total_rank"]))} for row in rows]
    table.attrs["notes"] = [
        "Entropy: H(softmax(α)) / log k per adapted matrix (1 = the uniform start), min and mean over matrices "
        "and seeds. Ranks: #{w_j ≥ 1/k}.",
        f"Seed agreement: mean Pearson correlation of the per-matrix ranks over every pair of seeds; chance: the "
        f"same with the matrix labels permuted within each seed ({PERMUTATIONS} permutations, seed "
        f"{PERMUTATION_SEED}); p: the share of permutations agreeing at least as well (one-sided). n/a where a "
        "seed's ranks are all equal (no correlation is defined).",
        f"Stable: share of matrices whose effective rank did not change over the last {LAST_PART:.0%} of the "
        "logged search steps (mean over seeds). Rank ~ depth: Spearman correlation of rank and layer index, "
        f"pooled over seeds; depth p: two-sided, the share of {PERMUTATIONS // 4} permutations of the layer labels "
        "within each seed with a correlation at least as strong; rank q − v: mean rank of query minus value "
        "matrices.",
        "Rows named after an equal-budget control (lora_budget, random_ranks) describe that control's allocation "
        "(its ranks records): no search, so no entropy, stability or stop rule; a neutral control shows no seed "
        "agreement and no depth trend beyond chance.",
        "Steps: search steps per seed (their mean where seeds differ).",
        f"Stop rule: search.stop_when_stable = {STOP_AFTER} replayed on each logged trajectory: the share of "
        "the logged steps it would have run, and the share of matrices whose rank at that point equals "
        "the final one (means over seeds; 100 % / 100 % where it never fires).",
        *(f"search_{name}: AutoLoRA with {_overrides(settings)}." for name, settings in (variants or {}).items()),
    ]
    return table


def _percent(share: float) -> str:
    return "n/a" if math.isnan(share) else f"{100 * share:.0f} %"


def _steps(records: Sequence[Mapping]) -> int:
    return round(float(np.mean([record["steps"] for record in records])))


def _overrides(settings: Mapping, prefix: str = "") -> str:
    """{search: {epochs: 8}} → "search.epochs = 8"."""
    return ", ".join(_overrides(value, f"{prefix}{key}.") if isinstance(value, Mapping) else f"{prefix}{key} = {value}"
                     for key, value in settings.items())
