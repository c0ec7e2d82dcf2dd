"""A user's own task, described in the config (key ``own_tasks``) instead of in code.

Its rows come from two files, ``train`` and ``eval`` (CSV, TSV or JSON Lines, by suffix), or from
a Hugging Face dataset (``hub: {id, config, train_split, eval_split}``); ``columns`` maps the
fields the pipeline needs to the user's column names. Each kind of task belongs to the family that
already handles it (``Family.own_kinds``, an ``OwnKind`` each), which reads the rows into its own
schema, so every later stage runs unchanged. The built-in kinds:

* ``classification`` / ``regression`` (GLUE's family): columns ``text``, optional ``text_pair``,
  ``label``. Classification needs ``labels``, the class names in the order of the head's outputs.
* ``tagging`` (NER's): IOB2 tags; columns ``tokens`` and ``tags``, each a list per row (JSON
  Lines or a hub dataset). Needs ``labels``, every tag.
* ``data_to_text`` (data-to-text's): columns ``source`` and ``target``. Rows with the same
  source are one record with several references.

This module reads and checks what every kind shares (the kinds' readers share their row helpers
from ``autolora.families.base``). Every bad row is reported with its file and
line (or hub split and row) before any training.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from datasets import ClassLabel, DatasetDict

from autolora.data import sha256_of
from autolora.errors import ConfigError, DataError
from autolora.families import own_kind

READERS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}
SPLITS = ("train", "eval")


def _kind(entry: dict):
    """(the family, the ``OwnKind``) of an entry's kind."""
    return own_kind(entry["kind"])


def check_entry(name: str, entry: dict, base_dir: str | Path = ".") -> None:
    """What the schema cannot say about ``own_tasks.<name>``; raise ConfigError naming the key."""
    key = f"own_tasks.{name}"
    try:
        kind = _kind(entry)[1]
    except ConfigError as error:
        raise ConfigError(f"config key {key}.kind: {error}") from None
    has_files, has_hub = "train" in entry or "eval" in entry, "hub" in entry
    if has_files == has_hub:
        raise ConfigError(f"config key {key}: give either train and eval files or hub, not {'both' if has_hub else 'neither'}")
    if has_files:
        for split in SPLITS:
            _check_file(entry.get(split), f"{key}.{split}", base_dir)
    missing = [column for column in kind.columns if column not in entry["columns"]]
    unknown = [column for column in entry["columns"] if column not in kind.columns + kind.optional_columns]
    if missing or unknown:
        raise ConfigError(f"config key {key}.columns: a {kind.name} task maps {list(kind.columns)}"
                          f"{' and optionally ' + str(list(kind.optional_columns)) if kind.optional_columns else ''}; "
                          f"missing {missing}, unknown {unknown}")
    _check_labels(entry.get("labels"), kind, key)
    if entry.get("metric") not in (None, *kind.metrics):
        raise ConfigError(f"config key {key}.metric: {entry['metric']!r} is not computed for a {kind.name} task "
                          f"({', '.join(kind.metrics)})")


def _check_file(path: str | None, key: str, base_dir: str | Path) -> None:
    if path is None:
        raise ConfigError(f"config key {key}: missing (train and eval files go together)")
    if Path(path).suffix not in READERS:
        raise ConfigError(f"config key {key}: {path} is not .csv, .tsv or .jsonl")
    if not (Path(base_dir) / path).is_file():
        raise ConfigError(f"config key {key}: {Path(base_dir) / path} does not exist")


def _check_labels(labels, kind, key: str) -> None:
    if kind.labels and not labels:
        raise ConfigError(f"config key {key}.labels: a {kind.name} task lists its {kind.labels}")
    if not kind.labels and labels:
        raise ConfigError(f"config key {key}.labels: a {kind.name} task has no classes")
    if labels and (problem := kind.check_labels(tuple(labels))):
        raise ConfigError(f"config key {key}.labels: {problem}")


def family(entry: dict) -> str:
    """The family that takes an own task of this kind (``Family.own_kinds``)."""
    return _kind(entry)[0].name


def _labels(entry: dict) -> tuple[str, ...] | None:
    return tuple(entry["labels"]) if entry.get("labels") else None


def num_labels(entry: dict) -> int | None:
    return _kind(entry)[1].num_labels(_labels(entry))


def main_metric(entry: dict) -> str:
    return entry.get("metric") or _kind(entry)[1].metrics[0]


def metric_config(entry: dict) -> str | None:
    """The scorer's setting of the task's kind (GLUE's: ``autolora.metrics.OWN_TASK_METRIC_CONFIGS``)."""
    return _kind(entry)[1].metric_config(_labels(entry))


def without_metric(entry: dict) -> dict:
    """The entry as the stages before scoring read it: a new main metric redoes no training."""
    return {key: value for key, value in entry.items() if key != "metric"}


# ---------------------------------------------------------------- reading


def read(name: str, entry: dict) -> tuple[DatasetDict, dict]:
    """The task's ``train`` and ``eval`` splits in its family's schema, with provenance."""
    if "hub" in entry:
        rows, provenance = _hub_rows(name, entry["hub"])
        sources = {split: f"own_tasks.{name}.hub.{split}_split ({entry['hub'][f'{split}_split']})" for split in SPLITS}
    else:
        rows = {split: list(_file_rows(Path(entry[split]))) for split in SPLITS}
        provenance = {"source": "files", "files": {split: str(entry[split]) for split in SPLITS},
                      "sha256": {split: sha256_of(Path(entry[split])) for split in SPLITS}}
        sources = {split: f"{entry[split]} (own_tasks.{name}.{split})" for split in SPLITS}
    for split in SPLITS:
        if not rows[split]:
            raise DataError(f"{sources[split]}: no data rows")
    splits = DatasetDict({split: _normalise(rows[split], entry) for split in SPLITS})
    provenance.update(task=name, kind=entry["kind"], eval_split="eval", eval_split_official=True,
                      eval_split_note=f"the user's evaluation split (own_tasks.{name})",
                      n_train=len(splits["train"]), n_eval=len(splits["eval"]))
    return splits, provenance


def _file_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """(where, row) for each data row of a CSV, TSV or JSON Lines file."""
    delimiter = READERS[path.suffix]
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if delimiter is None:
            for line_no, line in enumerate(handle, start=1):
                if line.strip():
                    yield f"{path} line {line_no}", _json_object(line, f"{path} line {line_no}")
            return
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            where = f"{path} line {reader.line_num}"
            if None in row or None in row.values():
                raise DataError(f"{where}: {len(row) - (None in row)} columns expected, as in the header")
            yield where, row


def _json_object(line: str, where: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: a JSON object per line expected, got {type(row).__name__}")
    return row


def _hub_rows(name: str, hub: dict) -> tuple[dict, dict]:
    import datasets

    raw = datasets.load_dataset(hub["id"], hub.get("config"))
    rows = {}
    for split in SPLITS:
        hub_split = hub[f"{split}_split"]
        if hub_split not in raw:
            raise ConfigError(f"config key own_tasks.{name}.hub.{split}_split: {hub['id']} has no split "
                              f"{hub_split!r} (has {', '.join(raw)})")
        rows[split] = [(f"{hub['id']} split {hub_split} row {index}", row)
                       for index, row in enumerate(_with_class_names(raw[hub_split].to_list(), raw[hub_split].features))]
    return rows, {"source": "hub", "hub_dataset": hub["id"], "hub_config": hub.get("config"),
                  "hub_splits": {split: hub[f"{split}_split"] for split in SPLITS}}


def _with_class_names(rows: list[dict], features) -> list[dict]:
    """Class-id columns (a ClassLabel, or a list of them: tags) as their names, which the
    config's ``labels`` list, so ids are matched by meaning, never by position."""
    def class_label(feature):
        inner = getattr(feature, "feature", None)  # a list of class ids: List / Sequence
        return feature if isinstance(feature, ClassLabel) else inner if isinstance(inner, ClassLabel) else None

    labelled = {column: class_label(feature) for column, feature in features.items() if class_label(feature)}
    for row in rows:
        for column, classes in labelled.items():
            value = row[column]
            row[column] = [classes.int2str(item) for item in value] if isinstance(value, list) else classes.int2str(value)
    return rows


def _normalise(rows: list[tuple[str, dict]], entry: dict):
    columns = entry["columns"]
    for where, row in rows:
        absent = [column for field, column in columns.items() if column not in row]
        if absent:
            raise DataError(f"{where}: no column {absent} (columns: {', '.join(map(str, row))})")
    return _kind(entry)[1].normalise(rows, columns, _labels(entry))
