"""What a task family is: the ``Family`` object that each family module registers, the ``TaskSpec``
of each of its tasks, and the registry the stages ask.

A family owns everything that differs between kinds of task: its built-in tasks (each with its
readers), how rows are tokenised and batched, the pretrained model class and its PEFT task type,
the evaluator of the reported split, the score the grid and the tuning trials choose by, and its
tables' columns. The stage modules hold no family-specific branch: they call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict

from autolora.errors import ConfigError


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


@dataclass(frozen=True)
class MetricColumn:
    """One column of a single-task table: a metric, how it is printed and its direction."""

    label: str
    metric: str  # key in the records' ``metrics``
    scale: float = 100.0
    decimals: int = 1
    lower_is_better: bool = False


# E2E's official metrics as table columns (the LoRA and AutoLoRA papers' layout): every
# data-to-text family's own tables show them.
E2E_COLUMNS = (
    MetricColumn("BLEU", "BLEU"), MetricColumn("NIST", "NIST", 1.0, 2),
    MetricColumn("METEOR", "METEOR"), MetricColumn("ROUGE-L", "ROUGE_L"),
    MetricColumn("CIDEr", "CIDEr", 1.0, 2),
)
# The key of the mean validation loss per target token, where a family chooses by it.
VALIDATION_LOSS = "validation_loss"

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


def family_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def all_families() -> tuple[Family, ...]:
    return tuple(_REGISTRY.values())
