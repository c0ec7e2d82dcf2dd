"""What a task family is: the ``Family`` object that each family module registers, the ``TaskSpec``
of each of its tasks, and the registry the stages ask.

A family owns everything that differs between kinds of task: its built-in tasks (each with its
readers), how rows are tokenised and batched, the pretrained model class and its PEFT task type,
the evaluator of the reported split, the score the grid and the tuning trials choose by, and its
tables' columns. The stage modules hold no family-specific branch: they call these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict

from autolora.errors import ConfigError, DataError


@dataclass(frozen=True)
class OwnKind:
    """A kind of a user's own task (config ``own_tasks.<name>.kind``) that a family takes: how its
    rows become the family's schema. ``autolora.own_task`` reads the rows (files or a hub dataset)
    and checks what every kind shares; the kind says the rest.

    Attributes:
        name: the kind, e.g. ``classification``.
        columns: the fields the config maps to the user's columns (``own_tasks.<name>.columns``);
            ``optional_columns`` may be mapped too.
        metrics: what its scorer computes; the first is the main metric unless the config names one.
        normalise: (rows as (where, row) pairs, the column map, the labels or None) → the
            family's dataset; a bad row is a DataError naming where it is.
        num_labels: (the labels or None) → the head's outputs (None: a language model's).
        labels: what the config's ``labels`` list for it ("classes", "IOB2 tags"); empty: it has none.
        check_labels: (labels) → what is wrong with them ("": nothing).
        metric_config: (labels) → the scorer's setting for it (GLUE's scorer:
            ``autolora.metrics.OWN_TASK_METRIC_CONFIGS``), or None.
    """

    name: str
    columns: tuple[str, ...]
    metrics: tuple[str, ...]
    normalise: Callable[[list, dict, tuple | None], Dataset]
    num_labels: Callable[[tuple | None], int | None]
    optional_columns: tuple[str, ...] = ()
    labels: str = ""
    check_labels: Callable[[tuple], str] = lambda labels: ""
    metric_config: Callable[[tuple | None], str | None] = lambda labels: None


@dataclass(frozen=True)
class MetricColumn:
    """One column of a single-task table: a metric, how it is printed and its direction."""

    label: str
    metric: str  # key in the records' ``metrics``
    scale: float = 100.0
    decimals: int = 1
    lower_is_better: bool = False


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: str
    mirror_folder: str  # top folder of the task in the data mirror
    read_mirror: Callable[[Path | str, bool], tuple[DatasetDict, dict]]
    load_hub: Callable[[], tuple[DatasetDict, dict]]
    eval_split: str  # the loaded split that becomes ``eval``
    eval_split_official: bool
    num_labels: int | None  # None: a language model, no label head
    main_metric: str
    metric_config: str | None = None  # the scorer's setting: a GLUE task, classification or regression
    labels: tuple[str, ...] | None = None  # class names or IOB2 tags, in the head's order
    own: bool = False  # defined in the config (own_tasks), read from the user's files or hub id
    label: str = ""  # its name in tables and figures (the paper's: "SST-2"); empty: its name
    title: str = ""  # the caption name of its own table, where it has one; empty: its label
    table_columns: tuple[MetricColumn, ...] = ()  # its own table's columns; empty: its family's


@dataclass(frozen=True)
class Appendix:
    """A further table of one task: other columns of the same records (BioNLP's F1 per type)."""

    name: str  # the table's name (its files: tables/<name>.md); no task may bear it
    task: str
    title: str
    columns: tuple[MetricColumn, ...]


# E2E's official metrics as table columns (the LoRA and AutoLoRA papers' layout): every
# data-to-text family's own tables show them.
E2E_COLUMNS = (
    MetricColumn("BLEU", "BLEU"), MetricColumn("NIST", "NIST", 1.0, 2),
    MetricColumn("METEOR", "METEOR"), MetricColumn("ROUGE-L", "ROUGE_L"),
    MetricColumn("CIDEr", "CIDEr", 1.0, 2),
)
# The key of the mean validation loss per target token, where a family chooses by it.
VALIDATION_LOSS = "validation_loss"

# The label that torch's cross-entropy skips: prompt tokens, special tokens, non-first sub-tokens.
IGNORE_LABEL = -100

# Where a run keeps a task's evaluation labels (``Family.eval_labels``), in its task folder.
LABELS_FILE = "eval_labels.txt"

# (model, tokenizer, tokenized_dir, prepared_dir, config, spec, device) -> (metrics, one line per eval unit)
Evaluator = Callable[..., tuple[dict, list[str]]]
# (model, rows, tokenizer, config, spec, device) -> the metrics of tokenised rows of a split
RowScorer = Callable[..., dict]


@dataclass(frozen=True)
class Family:
    """One kind of task, as every stage needs it.

    Attributes:
        name: its name in configs, folders and records (``glue``, ``ner``, ``nlg``, ...).
        tasks: its built-in tasks.
        tokenize: (prepared DatasetDict, tokenizer, max_length) → the tokenised DatasetDict.
        auto_model: the ``transformers`` auto class of its pretrained model with its head.
        model_kwargs: (spec, config view) → that class's ``from_pretrained`` arguments.
        peft_task_type: PEFT's ``TaskType`` name for the family's model.
        evaluate: scores a model on the reported split (``Evaluator``).
        score_rows: scores a model on tokenised rows (the search-validation split: the grid's
            and the tuning trials' choice; GLUE's dev set after each retraining epoch).
        choice_metric: (spec) → (the key of ``score_rows``' metrics that choices maximise or
            minimise, whether higher is better).
        table_columns: the columns of a per-task table of its tasks (own tasks included).
        trivial_baseline: (tokenized_dir, spec) → what learning nothing scores, or None.
        decodes: evaluation generates text, so records and captions name the decoding settings.
        per_epoch_dev_scores: ``retrain.eval_every_epoch`` can score the dev set after each epoch.
        eval_labels: (tokenized_dir) → the evaluation split's labels, one per line of
            ``predictions.txt``, where the main metric can be recomputed from the two per example
            (the hierarchical bootstrap of ``autolora.reporting.stats``); None elsewhere.
        shared_table: its tasks share one table named as the family (GLUE's: a column per task
            and their average), titled ``table_title``; otherwise each task has a table of its
            own, named as the task.
        table_order: its tasks in its tables' column order (the paper's); empty: ``tasks``' order.
        appendices: further tables of its tasks.
        own_kinds: the kinds of a user's own task (config ``own_tasks``) that it takes.
        extra_inputs: columns of its tokenised rows that its model takes beside ``MODEL_INPUTS``
            (an extractive-QA head's ``start_positions`` and ``end_positions``).
        collator: (rows, tokenizer) → what batches its rows for the search and the retraining
            (a multiple-choice family's pads every choice); None: ``autolora.training.collator_for``
            (padded inputs, per-token labels padded with -100).
    """

    name: str
    tasks: tuple[TaskSpec, ...]
    tokenize: Callable[..., DatasetDict]
    auto_model: str
    model_kwargs: Callable[[TaskSpec, dict], dict]
    peft_task_type: str
    evaluate: Evaluator
    score_rows: RowScorer
    choice_metric: Callable[[TaskSpec], tuple[str, bool]]
    table_columns: tuple[MetricColumn, ...] = ()
    trivial_baseline: Callable[..., dict] | None = None
    decodes: bool = False
    per_epoch_dev_scores: bool = False
    eval_labels: Callable[..., list] | None = None
    shared_table: bool = False
    extra_inputs: tuple[str, ...] = ()
    table_title: str = ""
    table_order: tuple[str, ...] = ()
    appendices: tuple[Appendix, ...] = ()
    own_kinds: tuple[OwnKind, ...] = ()
    collator: Callable[..., Callable] | None = None


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in _REGISTRY:
        raise ValueError(f"task family {family.name!r} is registered twice")
    _REGISTRY[family.name] = family
    return family


def get_family(name: str) -> Family:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown task family {name!r}; families: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def own_kind(kind: str) -> tuple[Family, OwnKind]:
    """The family that takes an own task of this kind, and the kind."""
    for family in _REGISTRY.values():
        for own in family.own_kinds:
            if own.name == kind:
                return family, own
    kinds = [own.name for family in _REGISTRY.values() for own in family.own_kinds]
    raise ConfigError(f"own task kind {kind!r}: no task family takes it (kinds: {', '.join(kinds)})")


def family_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def all_families() -> tuple[Family, ...]:
    return tuple(_REGISTRY.values())


# The columns of tokenised rows that a batch hands to the model; a family may add its own.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


def model_inputs() -> tuple[str, ...]:
    """``MODEL_INPUTS`` and every registered family's ``extra_inputs``."""
    return tuple(dict.fromkeys([*MODEL_INPUTS, *(name for family in _REGISTRY.values()
                                                 for name in family.extra_inputs)]))


# ---- what the report stage asks: labels, order and tables of the tasks of a run ----------------

BEST_EPOCH_SUFFIX = "_best_epoch"  # a shared table at each task's best retraining epoch


def _built_in(task: str) -> tuple[Family, TaskSpec] | None:
    for family in _REGISTRY.values():
        for spec in family.tasks:
            if spec.name == task:
                return family, spec
    return None


def task_label(task: str) -> str:
    """A task's name in tables and figures: its spec's label, or the name itself (own tasks)."""
    found = _built_in(task)
    return (found[1].label or task) if found else task


def task_sort_key(task: str) -> tuple[int, int, str]:
    """Built-in tasks in the order of their families and their tables' columns, any other task
    alphabetically after them."""
    for rank, family in enumerate(_REGISTRY.values()):
        order = family.table_order or tuple(spec.name for spec in family.tasks)
        if task in order:
            return rank, order.index(task), ""
    return len(_REGISTRY), 0, task


def metric_column(metric: str) -> MetricColumn | None:
    """The first table column of any family or task that shows ``metric``."""
    columns = [column for family in _REGISTRY.values()
               for column in (*family.table_columns, *(c for spec in family.tasks for c in spec.table_columns))]
    return next((column for column in columns if column.metric == metric), None)


def is_benchmark_task(task: str) -> bool:
    """A task the family ships (not a user's own task of the same family)."""
    return _built_in(task) is not None


def report_tables(families_of_tasks: dict[str, str]) -> list[str]:
    """The tables of a run's tasks (task → family): one per family with a shared table, one per
    other task, and each task's appendices."""
    names = []
    for task, family_name in families_of_tasks.items():
        family = get_family(family_name)
        if family.shared_table:
            names.append(family.name)
        else:
            names += [task, *(appendix.name for appendix in family.appendices if appendix.task == task)]
    return list(dict.fromkeys(names))


def shared_family(table: str) -> Family | None:
    """The family whose shared table (or its best-epoch table) this is; None for a task's table."""
    family = _REGISTRY.get(table.removesuffix(BEST_EPOCH_SUFFIX))
    return family if family is not None and family.shared_table else None


def appendix_of(table: str) -> Appendix | None:
    return next((appendix for family in _REGISTRY.values() for appendix in family.appendices
                 if appendix.name == table), None)


def table_tasks(table: str, families_of_tasks: dict[str, str]) -> list[str]:
    """The tasks a table holds, of a run's tasks (task → family)."""
    family = shared_family(table)
    if family is not None:
        return [task for task, name in families_of_tasks.items() if name == family.name]
    appendix = appendix_of(table)
    return [appendix.task if appendix else table]


def table_title(table: str) -> str:
    """A table's caption name."""
    family = shared_family(table)
    if family is not None:
        title = family.table_title or family.name
        return f"{title}, best retraining epoch on the evaluation split (optimistic)" if table != family.name else title
    appendix = appendix_of(table)
    if appendix is not None:
        return appendix.title
    found = _built_in(table)
    return (found[1].title or task_label(table)) if found else table


def table_columns(table: str, family_name: str) -> tuple[MetricColumn, ...]:
    """The columns of a task's (or appendix's) table: its own, or its family's."""
    appendix = appendix_of(table)
    if appendix is not None:
        return appendix.columns
    found = _built_in(table)
    return (found[1].table_columns if found and found[1].table_columns else ()) or get_family(family_name).table_columns


# ---- what the own-task kinds' readers share (``OwnKind.normalise``)


def text_of(row: dict, column: str, where: str) -> str:
    """A row's non-empty text in ``column``; a DataError naming the row otherwise."""
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: column {column!r} holds no text ({value!r})")
    return value


def label_of(value, ids: dict[str, int] | None, where: str) -> int | float:
    """A class id (``ids``: name -> id) or, without classes, a finite score."""
    if ids is None:
        try:
            score = float(value)
        except (TypeError, ValueError):
            raise DataError(f"{where}: label {value!r} is not a number") from None
        if not math.isfinite(score):
            raise DataError(f"{where}: label {value!r} is not a finite number")
        return score
    label_id = ids.get(str(value))
    if label_id is None:
        raise DataError(f"{where}: label {value!r} is not one of the config's labels {list(ids)}")
    return label_id


def label_ids(labels) -> dict[str, int]:
    """Class or tag name -> id, in the order of ``labels`` (the head's outputs)."""
    return {label: index for index, label in enumerate(labels)}
