"""The tasks the pipeline knows, grouped into the paper's three experiment families.

* ``glue``: sentence(-pair) classification and regression, an encoder with a sequence-classification head;
* ``nlg``: data-to-text (E2E, WebNLG), a decoder-only causal language model decoding the text
  (encoder-decoder models such as T5 are refused with a config error: ``autolora.model``);
* ``ner``: BioNLP 2004 / JNLPBA named-entity recognition, an encoder with a token-classification head.

Every task is read into a ``DatasetDict`` with a ``train`` and an ``eval`` split (the split its
final numbers come from) plus a provenance record; each stage module dispatches on ``family``.
A user's own tasks (config key ``own_tasks``, ``autolora.own_task``) join the built-in ones through
``register_own_tasks``, which the config's validation and every job call, so that ``get_spec``
knows them everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import DatasetDict

from autolora import download, ner, nlg_data, own_task
from autolora.errors import ConfigError

FAMILIES = ("glue", "nlg", "ner")
# Table and family names an own task's table or folder would collide with.
RESERVED_NAMES = (*FAMILIES, "cost")


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

    @property
    def entity_types(self) -> tuple[str, ...]:
        """The entity types a tagging task's per-type F1 covers."""
        return own_task.entity_types(self.labels) if self.family == "ner" else ()


def _glue_spec(task: download.GlueTask) -> TaskSpec:
    return TaskSpec(
        name=task.name,
        family="glue",
        mirror_folder="glue",
        read_mirror=lambda mirror, verify: download.read_glue_mirror(task.name, mirror, verify),
        load_hub=lambda: download.load_glue_hub(task.name),
        eval_split="eval",
        eval_split_official=task.eval_split_official,
        num_labels=task.num_labels,
        main_metric=task.main_metric,
        metric_config=task.name,
        labels=task.label_names,
    )


TASKS: dict[str, TaskSpec] = {
    **{name: _glue_spec(task) for name, task in download.GLUE_TASKS.items()},
    "e2e": TaskSpec("e2e", "nlg", "e2e", nlg_data.read_e2e_mirror, nlg_data.load_e2e_hub,
                    eval_split="test", eval_split_official=True, num_labels=None, main_metric="BLEU"),
    "webnlg": TaskSpec("webnlg", "nlg", "webnlg2017", nlg_data.read_webnlg_mirror, nlg_data.load_webnlg_hub,
                       eval_split="test", eval_split_official=True, num_labels=None,
                       main_metric="BLEU_all"),
    "bionlp": TaskSpec("bionlp", "ner", ner.MIRROR_DIR, ner.read_jnlpba_mirror, ner.load_bionlp_hub,
                       eval_split="test", eval_split_official=True, num_labels=len(ner.BIONLP_TAGS),
                       main_metric="f1", labels=ner.BIONLP_TAGS),
}
_OWN_TASKS: dict[str, TaskSpec] = {}


def _own_spec(name: str, entry: dict) -> TaskSpec:
    def read(*_ignored):  # the mirror and the hub settings of data.source are the built-in tasks'
        return own_task.read(name, entry)

    return TaskSpec(name, own_task.family(entry), mirror_folder="", read_mirror=read, load_hub=read,
                    eval_split="eval", eval_split_official=True, num_labels=own_task.num_labels(entry),
                    main_metric=own_task.main_metric(entry), metric_config=own_task.metric_config(entry),
                    labels=tuple(entry["labels"]) if entry.get("labels") else None, own=True)


def register_own_tasks(own_tasks: dict) -> None:
    """Make the config's ``own_tasks`` (already checked, ``own_task.check_entry``) known to
    ``get_spec``, replacing those registered before."""
    clashes = sorted(set(own_tasks) & (set(TASKS) | set(RESERVED_NAMES)))
    if clashes:
        raise ConfigError(f"config key own_tasks: {clashes} are built-in tasks or names of the pipeline's "
                          f"tables and families ({', '.join(RESERVED_NAMES)}); give yours another name")
    _OWN_TASKS.clear()
    _OWN_TASKS.update({name: _own_spec(name, entry) for name, entry in own_tasks.items()})


def is_task(name: str) -> bool:
    return name in TASKS or name in _OWN_TASKS


def get_spec(task: str) -> TaskSpec:
    spec = TASKS.get(task) or _OWN_TASKS.get(task)
    if spec is None:
        raise ConfigError(f"unknown task {task!r}; built-in tasks: {', '.join(TASKS)}; "
                          f"own tasks: {', '.join(_OWN_TASKS) or 'none (config key own_tasks)'}")
    return spec


def family_of(task: str) -> str:
    return get_spec(task).family


def tasks_of(family: str, tasks: list[str]) -> list[str]:
    """The tasks of one family, in the order given."""
    return [task for task in tasks if family_of(task) == family]


def load_task(task: str, source: str, mirror: Path | str | None, verify_checksums: bool
              ) -> tuple[DatasetDict, dict]:
    """The task's ``train`` and ``eval`` splits from the mirror or the hub, with provenance."""
    spec = get_spec(task)
    if source == "mirror":
        if mirror is None:
            raise ConfigError("data.source 'mirror' needs data.mirror")
        data, provenance = spec.read_mirror(mirror, verify_checksums)
    elif source == "hub":
        data, provenance = spec.load_hub()
    else:
        raise ConfigError(f"data.source {source!r}: expected one of {', '.join(download.SOURCES)}")
    provenance.setdefault("eval_split", spec.eval_split)
    provenance.setdefault("eval_split_official", spec.eval_split_official)
    return DatasetDict(train=data["train"], eval=data[spec.eval_split]), provenance


def prepare_task(task: str, source: str, mirror: Path | str | None, out_dir: Path | str,
                 max_train_examples: int | None = None, subset_seed: int = 0,
                 verify_checksums: bool = True, max_eval_examples: int | None = None) -> dict:
    """Load a task, optionally take seeded subsets of train and eval, and save it with its
    provenance to ``out_dir`` (atomically). An eval subset is for CPU budgets only and is
    recorded, so tables can say so."""
    get_spec(task)  # fail on an unknown task before touching any source
    data, provenance = load_task(task, source, mirror, verify_checksums)
    n_train_full, n_eval_full = len(data["train"]), len(download.evaluation_units(data["eval"]))
    data = download.take_subset(data, "train", max_train_examples, subset_seed, "data.max_train_examples")
    data = download.take_subset(data, "eval", max_eval_examples, subset_seed, "data.max_eval_examples",
                                by_group=True)
    provenance.update({
        "n_train_full": n_train_full,
        "n_train": len(data["train"]),
        "n_eval_full": n_eval_full,
        "n_eval": len(download.evaluation_units(data["eval"])),
        "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples,
        "subset_seed": subset_seed,
        "datasets_version": datasets.__version__,
    })
    download.write_atomically(data, provenance, Path(out_dir))
    return provenance
