"""The tasks the pipeline knows: every family's built-in tasks (``autolora.families``) and a
user's own tasks.

Every task is read into a ``DatasetDict`` with a ``train`` and an ``eval`` split (the split its
final numbers come from) plus a provenance record; the stages ask its family
(``autolora.families.get_family``) for everything that differs between kinds of task. A user's
own tasks (config key ``own_tasks``, ``autolora.own_task``) join the built-in ones through
``register_own_tasks``, which the config's validation and every job call, so that ``get_spec``
knows them everywhere.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
from datasets import DatasetDict

from autolora import own_task
from autolora.data import SOURCES, evaluation_units, hold_out, take_subset, write_atomically
from autolora.errors import ConfigError
from autolora.families import TaskSpec, all_families, family_names

FAMILIES = family_names()
# Table and family names an own task's table or folder would collide with.
RESERVED_NAMES = (*FAMILIES, "cost")
TASKS: dict[str, TaskSpec] = {spec.name: spec for family in all_families() for spec in family.tasks}
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
        raise ConfigError(f"data.source {source!r}: expected one of {', '.join(SOURCES)}")
    provenance.setdefault("eval_split", spec.eval_split)
    provenance.setdefault("eval_split_official", spec.eval_split_official)
    return DatasetDict(train=data["train"], eval=data[spec.eval_split]), provenance


def rows_digest(rows: datasets.Dataset) -> str:
    """sha256 of a split's rows (every column, in order), short: equal digest, equal rows."""
    canonical = json.dumps(rows.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def prepare_task(task: str, source: str, mirror: Path | str | None, out_dir: Path | str,
                 max_train_examples: int | None = None, subset_seed: int = 0,
                 verify_checksums: bool = True, max_eval_examples: int | None = None,
                 pilot_holdout: float | None = None, train_subset_seed: int | None = None) -> dict:
    """Load a task, optionally take seeded subsets of train and eval, and save it with its
    provenance to ``out_dir`` (atomically). An eval subset is for CPU budgets only and is
    recorded, so tables can say so. ``train_subset_seed`` draws the training subset with its own
    seed (one per run seed); by default ``subset_seed`` draws both. A pilot (``pilot_holdout``) evaluates on rows held out from
    the training subset instead of the task's evaluation split (``autolora.data.hold_out``)."""
    get_spec(task)  # fail on an unknown task before touching any source
    data, provenance = load_task(task, source, mirror, verify_checksums)
    n_train_full = len(data["train"])
    train_seed = subset_seed if train_subset_seed is None else train_subset_seed
    data = take_subset(data, "train", max_train_examples, train_seed, "data.max_train_examples")
    if pilot_holdout is not None:
        data = hold_out(data, pilot_holdout, subset_seed)
        provenance.update(eval_split=f"pilot holdout ({pilot_holdout:g} of train)", eval_split_official=False,
                          eval_split_note=f"{pilot_holdout:g} of the training subset held out (seed {subset_seed}); "
                                          "the task's evaluation split is not used")
    n_eval_full = len(evaluation_units(data["eval"]))
    data = take_subset(data, "eval", max_eval_examples, subset_seed, "data.max_eval_examples",
                                by_group=True)
    provenance.update({
        "n_train_full": n_train_full,
        "n_train": len(data["train"]),
        "n_eval_full": n_eval_full,
        "n_eval": len(evaluation_units(data["eval"])),
        "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples,
        "subset_seed": subset_seed,
        **({"train_subset_seed": train_subset_seed} if train_subset_seed is not None else {}),
        # Names the training rows drawn, so that records of different seeds show different subsets.
        "train_sha256": rows_digest(data["train"]),
        "datasets_version": datasets.__version__,
    })
    write_atomically(data, provenance, Path(out_dir))
    return provenance
