"""Baselines and ablations: which methods a run compares, and what each changes in a job's config.

Every method is a name that ends up in the ``method`` field of its metrics.json (one table row):

* ``autolora``: the search → ranks → retrain → evaluate chain;
* ``lora_r{r}``: LoRA of rank r on every target module;
* ``grid``: LoRA at each r of ``grid_ranks`` (candidates ``grid_r{r}``, trained on search-train
  and scored on search-validation); the best r is retrained on all of train, like AutoLoRA's
  ranks, and evaluated;
* ``adalora``: PEFT's AdaLoRA with a budget matched to AutoLoRA's learned total rank;
* ``full_ft``: every parameter trained;
* the equal-budget controls, on the same search of the same task and seed: ``lora_budget``
  (AutoLoRA's total rank spread uniformly) and ``random_ranks`` (the same total at random);
* ``search_<name>``: AutoLoRA with the search settings of ``search_variants.<name>`` (its own
  search, ranks, retraining and evaluation), for comparing search regimes side by side;
* the ablations (config ``ablations``), each named ``autolora_<what>``: ``autolora_no_meta``
  (α trained on the training loss with the weights), ``autolora_l{x}`` (threshold λ = x/k on the
  same search, one per entry of ``ablation_thresholds``), ``autolora_no_retrain`` (the search model
  itself, dropped components zeroed), ``autolora_first_order`` (first-order hypergradient),
  ``autolora_normalized`` (rank form α/Σα on the same search).
"""

from __future__ import annotations

import re

AUTOLORA = "autolora"
GRID = "grid"
ADALORA = "adalora"
FULL_FT = "full_ft"
NO_META = "autolora_no_meta"
FIRST_ORDER = "autolora_first_order"
NORMALIZED = "autolora_normalized"
NO_RETRAIN = "autolora_no_retrain"
LORA_BUDGET = "lora_budget"
RANDOM_RANKS = "random_ranks"
# Allocations of AutoLoRA's total rank without its search: does the search beat them?
BUDGET_CONTROLS = (LORA_BUDGET, RANDOM_RANKS)
SINGLE_LEVEL = "single_level"  # the search mode of the no_meta ablation (autolora.bilevel)

UNIFORM_RANK = re.compile(r"^(lora|grid)_r([0-9]+)$")
THRESHOLD_ABLATION = re.compile(r"^autolora_l([0-9]+(?:\.[0-9]+)?)$")
ABLATION_METHODS = {"no_meta": NO_META, "first_order": FIRST_ORDER, "normalized": NORMALIZED,
                    "no_retrain": NO_RETRAIN}
# AdaLoRA's schedule, as fractions of the total steps: train at the initial rank k for the first
# 10 % (importance scores need trained triplets to mean anything), prune towards the budget, and
# train the final ranks for the last 20 % (the AdaLoRA paper's GLUE runs spend similar shares).
ADALORA_TINIT_FRACTION = 0.1
ADALORA_TFINAL_FRACTION = 0.2
# Ablations that run a search of their own; the others reuse AutoLoRA's search.json.
SEARCH_VARIANTS = (NO_META, FIRST_ORDER)
# Methods of the config's search_variants: AutoLoRA with other search settings.
SEARCH_VARIANT = re.compile(r"^search_([a-z0-9][a-z0-9_]*)$")


def uniform_rank(method: str) -> int | None:
    """r of ``lora_r{r}`` and of a grid run ``grid_r{r}``; None for any other method."""
    match = UNIFORM_RANK.match(method)
    return int(match.group(2)) if match else None


def search_variant_method(name: str) -> str:
    return f"search_{name}"


def search_variant_name(method: str) -> str | None:
    """``name`` of a ``search_<name>`` method; None for any other method."""
    match = SEARCH_VARIANT.match(method)
    return match.group(1) if match else None


def runs_own_search(method: str) -> bool:
    """AutoLoRA, the ablations with a search of their own, and the search variants."""
    return method == AUTOLORA or method in SEARCH_VARIANTS or search_variant_name(method) is not None


def threshold_label(units_of_one_over_k: float) -> str:
    """``autolora_l0.5`` for λ = 0.5/k: the shortest form that reads back to the same number."""
    return f"autolora_l{units_of_one_over_k:g}"


def grid_runs(grid_ranks: list[int]) -> list[str]:
    return [f"grid_r{rank}" for rank in grid_ranks]


def is_grid_run(method: str) -> bool:
    match = UNIFORM_RANK.match(method)
    return bool(match) and match.group(1) == GRID


def ablation_methods(ablations: list[str], thresholds: list[float]) -> list[str]:
    """The method names the configured ablations add, in the order they are listed."""
    names = []
    for ablation in ablations:
        if ablation == "thresholds":
            names += [threshold_label(units) for units in thresholds]
        else:
            names.append(ABLATION_METHODS[ablation])
    return list(dict.fromkeys(names))


def compared_methods(config: dict) -> list[str]:
    """Every method with table rows in this run: ``methods``, the ablations, the search variants."""
    ablations = ablation_methods(config["ablations"], config["ablation_thresholds"])
    variants = [search_variant_method(name) for name in config.get("search_variants", {})]
    return list(dict.fromkeys([*config["methods"], *ablations, *variants]))


def methods_of_task(config: dict, task: str) -> list[str]:
    """The methods that run on ``task``: AutoLoRA everywhere, the others on ``method_tasks``."""
    restricted = config["method_tasks"]
    if restricted is None or task in restricted:
        return compared_methods(config)
    return [AUTOLORA] if AUTOLORA in config["methods"] else []


def apply_method(settings: dict, method: str) -> dict:
    """What a method changes in a task's config view (in place; returned for chaining)."""
    settings["method"] = method
    if method == NO_META:
        settings["search"]["hypergradient"] = SINGLE_LEVEL
        settings["search"]["unroll"] = "sgd"  # α and w learn in one step: there is nothing to unroll
    elif method == FIRST_ORDER:
        settings["search"]["hypergradient"] = "first_order"
    elif method == NORMALIZED:
        settings["ranks"]["form"] = "normalized"
    elif match := THRESHOLD_ABLATION.match(method):
        settings["ranks"]["threshold"] = float(match.group(1)) / settings["lora"]["max_rank"]
    return settings
