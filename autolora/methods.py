"""The method registry: every method the pipeline compares, and what it is made of.

Every method is a name that ends up in the ``method`` field of its metrics.json (one table row).
One ``Method`` entry describes a method or a family of methods named by one pattern; the rules
(``workflow/rules``), the stage scripts and the tables read these entries, so adding a baseline
is one entry here (and its tests). The entries:

* ``autolora``: the search → ranks → retrain → evaluate chain;
* ``lora_r{r}``: LoRA of rank r on every target module;
* ``grid_r{r}``: the grid's candidates, LoRA at each r of ``grid_ranks`` trained on search-train
  and scored on search-validation; ``grid``: the best candidate's r retrained on all of train,
  like AutoLoRA's ranks, and evaluated;
* ``adalora``: PEFT's AdaLoRA with a budget matched to AutoLoRA's learned total rank;
* ``full_ft``: every parameter trained;
* the equal-budget controls, on the same search of the same task and seed: ``lora_budget``
  (AutoLoRA's total rank spread uniformly) and ``random_ranks`` (the same total at random);
* ``search_<name>``: AutoLoRA with the search settings of ``search_variants.<name>`` (its own
  search, ranks, retraining and evaluation), for comparing search regimes side by side;
* the ablations (config ``ablations``), each named ``autolora_<what>`` and retrained with
  AutoLoRA's tuned settings where the config tunes it: ``autolora_no_meta``
  (α trained on the training loss with the weights), ``autolora_l{x}`` (threshold λ = x/k on the
  same search, one per entry of ``ablation_thresholds``), ``autolora_no_retrain`` (the search
  model itself, dropped components zeroed), ``autolora_first_order`` (first-order hypergradient),
  ``autolora_normalized`` (rank form α/Σα on the same search).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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
SINGLE_LEVEL = "single_level"  # the search mode of the no_meta ablation (autolora.core.bilevel)
# AdaLoRA's schedule where the config has no ``adalora`` section, in shares of the total steps: train
# at the initial rank k for the first 10 % (importance scores need trained triplets to mean
# anything), prune towards the budget with a mask every step (mask_interval 0: one step), train the
# final ranks for the last 20 %; PEFT's default orthogonality weight.
ADALORA_DEFAULTS = {"tinit": 0.1, "tfinal": 0.2, "mask_interval": 0.0, "orth_reg_weight": 0.5}

# Where a method's ranks come from (``Method.ranks``), each made by its own rule:
OWN_SEARCH = "own_search"          # a search of its own (rules search / search_variant), then ranks
AUTOLORA_SEARCH = "autolora_search"  # AutoLoRA's search.json read with the method's rank settings
UNIFORM = "uniform"                # one rank everywhere, from the name (rule uniform_ranks)
BUDGET_CONTROL = "budget_control"  # AutoLoRA's total rank re-allocated (rule control_ranks)
UNIFORM_BUDGET, RANDOM_BUDGET = "uniform_budget", "random_budget"  # how (``Method.allocate``)
GRID_CHOICE = "grid_choice"        # the best grid candidate's ranks (rule grid_choice)
AUTOLORA_RANKS = "autolora_ranks"  # AutoLoRA's ranks.json itself (AdaLoRA's budget)
# How it trains (``Method.trains``): PEFT LoRA at its ranks, PEFT AdaLoRA, every parameter.
LORA, ADALORA_TRAINING, FULL = "lora", "adalora", "full"
# How it is scored (``Method.scored_by``): the evaluation split, or the grid's search-validation.
EVALUATE, GRID_VALIDATE, SEARCH_MODEL = "evaluate", "grid_validate", "search_model"
# The config's search_variants: ``search_<name>``.
SEARCH_VARIANT_PATTERN = r"search_([a-z0-9][a-z0-9_]*)"


@dataclass(frozen=True)
class Method:
    """One method, or a family of methods whose names match one pattern."""

    name: str  # how docs and errors name it, e.g. ``lora_r{r}``
    pattern: str  # regular expression every method name of the family matches in full
    ranks: str | None  # where its ranks come from (OWN_SEARCH, UNIFORM, ...); None: no ranks
    trains: str | None = LORA  # LORA, ADALORA_TRAINING, FULL; None: no training of its own
    scored_by: str = EVALUATE  # EVALUATE, GRID_VALIDATE (never a table row), SEARCH_MODEL
    train_split: str = "train"  # "search_train": the grid candidates, scored on search-validation
    selectable: bool = True  # may be listed in the config's ``methods`` (else: added by other keys)
    # What it changes in a task's config view, given the match of its name.
    configure: Callable[[dict, re.Match], None] = lambda settings, match: None
    # BUDGET_CONTROL: how its ranks record comes from AutoLoRA's of the same task and seed
    # (autolora.stages.ranks.ALLOCATIONS: UNIFORM_BUDGET, RANDOM_BUDGET).
    allocate: str | None = None
    # How it was run, for the notes of the tables it appears in: (config, table name) → text.
    note: Callable[[dict, str], str] | None = None
    # Optional config sections that it alone reads (autolora.config.OPTIONAL_SECTIONS): they are in
    # its jobs' config view, and so their params, and in no other method's.
    sections: tuple[str, ...] = ()
    # A variant of another method (AutoLoRA's ablations and search variants) retrains with that
    # method's tuned settings: the ablation changes one part and keeps the rest as AutoLoRA runs it.
    tuned_as: str | None = None

    def matches(self, method: str) -> re.Match | None:
        return re.fullmatch(self.pattern, method)

    @property
    def stages(self) -> tuple[str, ...]:
        """The benchmarked stages its own jobs run (AutoLoRA's search, shared by the methods that
        read it, counts once: for AutoLoRA)."""
        stages = ("search",) if self.ranks == OWN_SEARCH else ()
        stages += ("retrain",) if self.trains else ()
        return (*stages, "evaluate")


def _set(section: str, key: str, value) -> Callable[[dict, re.Match], None]:
    def configure(settings: dict, match: re.Match) -> None:
        settings[section][key] = value

    return configure


def _no_meta(settings: dict, match: re.Match) -> None:
    settings["search"]["hypergradient"] = SINGLE_LEVEL
    settings["search"]["unroll"] = "sgd"  # α and w learn in one step: there is nothing to unroll


def _threshold(settings: dict, match: re.Match) -> None:
    settings["ranks"]["threshold"] = float(match.group(1)) / settings["lora"]["max_rank"]


def _grid_note(config: dict, table: str) -> str:
    from autolora.families import get_family  # the registry itself stays free of data code
    from autolora.tasks import get_spec, is_task

    metric, higher_is_better = (get_family(get_spec(table).family).choice_metric(get_spec(table))
                                if is_task(table) else ("main metric", True))
    how = ("best main metric" if higher_is_better else
           f"lowest {metric.replace('_', ' ')} (decoding every candidate by beam search would cost more than "
           "training it)")
    return (f"{GRID}: LoRA at each rank of {config['grid_ranks']} trained on the search-train split; the rank "
            f"with the {how} on the search-validation split is retrained on the full training data, as "
            "AutoLoRA's ranks are, and evaluated.")


def _control_note(method: str, allocation: str) -> Callable[[dict, str], str]:
    return lambda config, table: (
        f"{method}: equal-budget control, LoRA retrained exactly as AutoLoRA's ranks are, with AutoLoRA's "
        f"total rank of the same task and seed allocated without the search: {allocation}.")


def adalora_settings(settings: dict) -> dict:
    """The ``adalora`` section of a task's config view over the defaults."""
    return {**ADALORA_DEFAULTS, **settings.get("adalora", {})}


def _adalora_note(config: dict, table: str) -> str:
    schedule = adalora_settings(config)
    pruning = f"{schedule['tinit']:.0%} and {1 - schedule['tfinal']:.0%}"
    return (f"{ADALORA}: PEFT AdaLoRA from rank k with a total budget equal to AutoLoRA's total rank of the same "
            "task and seed (PEFT's rank allocator set to that exact total; n·k − 1 where AutoLoRA kept every rank); LoRA retraining's optimiser and epochs; "
            f"ranks pruned between {pruning} of the steps, a mask every {schedule['mask_interval']:.1%} of them "
            f"(at least one step), orthogonality weight {schedule['orth_reg_weight']:g}"
            f"{' (task_overrides may change these)' if config.get('task_overrides') else ''}.")


REGISTRY = (
    Method(AUTOLORA, AUTOLORA, ranks=OWN_SEARCH),
    Method("lora_r{r}", r"lora_r([1-9][0-9]*)", ranks=UNIFORM),
    Method("grid_r{r}", r"grid_r([1-9][0-9]*)", ranks=UNIFORM, scored_by=GRID_VALIDATE,
           train_split="search_train", selectable=False),
    Method(GRID, GRID, ranks=GRID_CHOICE, note=_grid_note),
    Method(ADALORA, ADALORA, ranks=AUTOLORA_RANKS, trains=ADALORA_TRAINING, note=_adalora_note,
           sections=("adalora",)),
    Method(FULL_FT, FULL_FT, ranks=None, trains=FULL),
    Method(LORA_BUDGET, LORA_BUDGET, ranks=BUDGET_CONTROL, allocate=UNIFORM_BUDGET, note=_control_note(
        LORA_BUDGET, "as evenly as possible (total // matrices everywhere, one more on total mod matrices drawn "
        "at random, seeded by the run seed, so that no layer or matrix type is preferred)")),
    Method(RANDOM_RANKS, RANDOM_RANKS, ranks=BUDGET_CONTROL, allocate=RANDOM_BUDGET, note=_control_note(
        RANDOM_RANKS, "at random (each matrix 1..k, seeded by the run seed)")),
    Method("search_<name>", SEARCH_VARIANT_PATTERN, ranks=OWN_SEARCH, selectable=False, tuned_as=AUTOLORA),
    Method(NO_META, NO_META, ranks=OWN_SEARCH, selectable=False, configure=_no_meta, tuned_as=AUTOLORA),
    Method(FIRST_ORDER, FIRST_ORDER, ranks=OWN_SEARCH, selectable=False,
           configure=_set("search", "hypergradient", "first_order"), tuned_as=AUTOLORA),
    Method(NORMALIZED, NORMALIZED, ranks=AUTOLORA_SEARCH, selectable=False,
           configure=_set("ranks", "form", "normalized"), tuned_as=AUTOLORA),
    Method("autolora_l{x}", r"autolora_l([0-9]+(?:\.[0-9]+)?)", ranks=AUTOLORA_SEARCH, selectable=False,
           configure=_threshold, tuned_as=AUTOLORA),
    Method(NO_RETRAIN, NO_RETRAIN, ranks=None, trains=None, scored_by=SEARCH_MODEL, selectable=False),
)
# The config's ``ablations`` and the methods they add (thresholds: one per ablation_thresholds).
ABLATION_METHODS = {"no_meta": NO_META, "first_order": FIRST_ORDER, "normalized": NORMALIZED,
                    "no_retrain": NO_RETRAIN}


def _find(method: str) -> tuple[Method, re.Match] | None:
    for entry in REGISTRY:
        if match := entry.matches(method):
            return entry, match
    return None


def lookup(method: str) -> tuple[Method, re.Match]:
    """The registry entry a method name belongs to, and the match of its name."""
    found = _find(method)
    if found is None:
        raise KeyError(f"no method {method!r} in autolora.methods.REGISTRY")
    return found


def entry_of(method: str) -> Method:
    return lookup(method)[0]


def training_of(method: str) -> str | None:
    """How a method trains: LORA, ADALORA_TRAINING, FULL, or None (no training of its own)."""
    return entry_of(method).trains


def own_sections(method: str) -> tuple[str, ...]:
    """The optional config sections a method reads."""
    return entry_of(method).sections


def pattern_where(predicate: Callable[[Method], bool], *, without: tuple[str, ...] = (AUTOLORA,)) -> str:
    """One regular expression for the names of every entry that ``predicate`` selects, for a
    rule's wildcard constraint (AutoLoRA's own rules write outside the method folders)."""
    return "|".join(entry.pattern for entry in REGISTRY if predicate(entry) and entry.name not in without)


def uniform_rank(method: str) -> int | None:
    """r of ``lora_r{r}`` and of a grid candidate ``grid_r{r}``; None for any other method."""
    found = _find(method)
    return int(found[1].group(1)) if found is not None and found[0].ranks == UNIFORM else None


def search_variant_method(name: str) -> str:
    return f"search_{name}"


def search_variant_name(method: str) -> str | None:
    """``name`` of a ``search_<name>`` method; None for any other method."""
    match = re.fullmatch(SEARCH_VARIANT_PATTERN, method)
    return match.group(1) if match else None


def runs_own_search(method: str) -> bool:
    """AutoLoRA, the ablations with a search of their own, and the search variants."""
    found = _find(method)
    return found is not None and found[0].ranks == OWN_SEARCH


def threshold_label(units_of_one_over_k: float) -> str:
    """``autolora_l0.5`` for λ = 0.5/k: the shortest form that reads back to the same number."""
    return f"autolora_l{units_of_one_over_k:g}"


def grid_runs(grid_ranks: list[int]) -> list[str]:
    return [f"grid_r{rank}" for rank in grid_ranks]


def is_grid_run(method: str) -> bool:
    found = _find(method)
    return found is not None and found[0].train_split == "search_train"


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
    entry, match = lookup(method)
    settings["method"] = method
    entry.configure(settings, match)
    return settings


def table_notes(config: dict, table: str, methods: set[str]) -> list[str]:
    """How the methods of a table were run, one note per registry entry that has one."""
    return [entry.note(config, table) for entry in REGISTRY
            if entry.note is not None and any(entry.matches(method) for method in methods)]
