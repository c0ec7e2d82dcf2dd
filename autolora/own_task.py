"""A user's own task, described in the config (key ``own_tasks``) instead of in code.

Its rows come from two files, ``train`` and ``eval`` (CSV, TSV or JSON Lines, by suffix), or from
a Hugging Face dataset (``hub: {id, config, train_split, eval_split}``); ``columns`` maps the
fields the pipeline needs to the user's column names. Each kind of task is read into the schema
of the family that already handles it, so every later stage runs unchanged:

* ``classification`` / ``regression`` → the GLUE schema (``idx``, ``text_a``, ``text_b``,
  ``label``); columns ``text``, optional ``text_pair``, ``label``. Classification needs
  ``labels``, the class names in the order of the head's outputs.
* ``tagging`` → the NER schema (``tokens``, ``tags``), IOB2 tags; columns ``tokens`` and
  ``tags``, each a list per row (JSON Lines or a hub dataset). Needs ``labels``, every tag.
* ``data_to_text`` → the E2E schema (``prompt``, ``target``, ``group``); columns ``source``
  and ``target``. Rows with the same source are one record with several references.

Every bad row is reported with its file and line (or hub split and row) before any training.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict

from autolora.families.ner import data as ner
from autolora.data import sha256_of
from autolora.families.glue.data import sentence_features
from autolora.errors import ConfigError, DataError
from autolora.families.data_to_text.data import E2E_FEATURES, number_groups

COLUMNS_OF_KIND = {
    "classification": (("text", "label"), ("text_pair",)),
    "regression": (("text", "label"), ("text_pair",)),
    "tagging": (("tokens", "tags"), ()),
    "data_to_text": (("source", "target"), ()),
}
DEFAULT_METRIC = {"classification": "accuracy", "regression": "pearson", "tagging": "f1", "data_to_text": "BLEU"}
# What each kind's scorer computes, so a misspelt ``metric`` fails at config time, not after training.
METRICS_OF_KIND = {
    "classification": ("accuracy", "f1", "matthews_correlation"),
    "regression": ("pearson", "spearman"),
    "tagging": ("f1", "precision", "recall", "accuracy"),
    "data_to_text": ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"),
}
READERS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".json": None}
SPLITS = ("train", "eval")


def check_entry(name: str, entry: dict, base_dir: str | Path = ".") -> None:
    """What the schema cannot say about ``own_tasks.<name>``; raise ConfigError naming the key."""
    key, kind = f"own_tasks.{name}", entry["kind"]
    has_files, has_hub = "train" in entry or "eval" in entry, "hub" in entry
    if has_files == has_hub:
        raise ConfigError(f"config key {key}: give either train and eval files or hub, not {'both' if has_hub else 'neither'}")
    if has_files:
        for split in SPLITS:
            _check_file(entry.get(split), f"{key}.{split}", base_dir)
    required, optional = COLUMNS_OF_KIND[kind]
    missing = [column for column in required if column not in entry["columns"]]
    unknown = [column for column in entry["columns"] if column not in required + optional]
    if missing or unknown:
        raise ConfigError(f"config key {key}.columns: a {kind} task maps {list(required)}"
                          f"{' and optionally ' + str(list(optional)) if optional else ''}; "
                          f"missing {missing}, unknown {unknown}")
    _check_labels(entry, key)
    if entry.get("metric") not in (None, *METRICS_OF_KIND[kind]):
        raise ConfigError(f"config key {key}.metric: {entry['metric']!r} is not computed for a {kind} task "
                          f"({', '.join(METRICS_OF_KIND[kind])})")


def _check_file(path: str | None, key: str, base_dir: str | Path) -> None:
    if path is None:
        raise ConfigError(f"config key {key}: missing (train and eval files go together)")
    if Path(path).suffix not in READERS:
        raise ConfigError(f"config key {key}: {path} is not .csv, .tsv or .jsonl")
    if not (Path(base_dir) / path).is_file():
        raise ConfigError(f"config key {key}: {Path(base_dir) / path} does not exist")


def _check_labels(entry: dict, key: str) -> None:
    labels, kind = entry.get("labels"), entry["kind"]
    if kind in ("classification", "tagging") and not labels:
        raise ConfigError(f"config key {key}.labels: a {kind} task lists its "
                          f"{'classes' if kind == 'classification' else 'IOB2 tags'}")
    if kind in ("regression", "data_to_text") and labels:
        raise ConfigError(f"config key {key}.labels: a {kind} task has no classes")
    if kind == "tagging":
        bad = [tag for tag in labels if tag != "O" and tag[:2] not in ("B-", "I-")]
        if bad or "O" not in labels:
            raise ConfigError(f"config key {key}.labels: IOB2 tags are O, B-<type> and I-<type>; "
                              f"{'bad ' + str(bad) if bad else 'O is missing'}")


def family(entry: dict) -> str:
    """The family that takes an own task of this kind (``Family.own_kinds``)."""
    from autolora.families import all_families  # the families import this module

    families = [family.name for family in all_families() if entry["kind"] in family.own_kinds]
    if not families:
        raise ConfigError(f"own task kind {entry['kind']!r}: no task family takes it")
    return families[0]


def num_labels(entry: dict) -> int | None:
    return {"regression": 1, "data_to_text": None}.get(entry["kind"], len(entry.get("labels") or ()))


def main_metric(entry: dict) -> str:
    return entry.get("metric") or DEFAULT_METRIC[entry["kind"]]


def metric_config(entry: dict) -> str | None:
    """The GLUE scorer's setting (``autolora.metrics.OWN_TASK_METRIC_CONFIGS``) of a sentence task."""
    kind = entry["kind"]
    if kind == "classification" and len(entry["labels"]) == 2:
        return "binary_classification"
    return kind if kind in ("classification", "regression") else None


def without_metric(entry: dict) -> dict:
    """The entry as the stages before scoring read it: a new main metric redoes no training."""
    return {key: value for key, value in entry.items() if key != "metric"}


def entity_types(labels) -> tuple[str, ...]:
    """The entity types of IOB2 tags, in order of first appearance."""
    return tuple(dict.fromkeys(tag[2:] for tag in labels if tag != "O"))


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


def _normalise(rows: list[tuple[str, dict]], entry: dict) -> Dataset:
    columns = entry["columns"]
    for where, row in rows:
        absent = [column for field, column in columns.items() if column not in row]
        if absent:
            raise DataError(f"{where}: no column {absent} (columns: {', '.join(map(str, row))})")
    return NORMALISERS[entry["kind"]](rows, columns, entry.get("labels"))


def _text(row: dict, column: str, where: str) -> str:
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: column {column!r} holds no text ({value!r})")
    return value


def _sentences(rows, columns, labels) -> Dataset:
    """Classification or regression rows (``labels`` None) in the GLUE schema."""
    text_pair, ids = columns.get("text_pair"), _ids(labels) if labels else None
    data = {"idx": list(range(len(rows))),
            "text_a": [_text(row, columns["text"], where) for where, row in rows],
            "text_b": [_text(row, text_pair, where) if text_pair else "" for where, row in rows],
            "label": [_label(row[columns["label"]], ids, where) for where, row in rows]}
    return Dataset.from_dict(data, features=sentence_features(tuple(labels) if labels else None))


def _label(value, ids: dict[str, int] | None, where: str) -> int | float:
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


def _ids(labels) -> dict[str, int]:
    """Class or tag name -> id, in the order of ``labels`` (the head's outputs)."""
    return {label: index for index, label in enumerate(labels)}


def _tagged(rows, columns, labels) -> Dataset:
    tokens, tags, ids = [], [], _ids(labels)
    for where, row in rows:
        words, row_tags = row[columns["tokens"]], row[columns["tags"]]
        if not isinstance(words, list) or not isinstance(row_tags, list) or len(words) != len(row_tags) or not words:
            raise DataError(f"{where}: columns {columns['tokens']!r} and {columns['tags']!r} must be lists of "
                            "the same, non-zero length")
        unknown = sorted({str(tag) for tag in row_tags} - ids.keys())
        if unknown:
            raise DataError(f"{where}: tags {unknown} are not among the config's labels")
        tokens.append([str(word) for word in words])
        tags.append([ids[str(tag)] for tag in row_tags])
    return Dataset.from_dict({"tokens": tokens, "tags": tags}, features=ner.features(tuple(labels)))


def _records(rows, columns, labels) -> Dataset:
    """Data-to-text rows; rows with the same source form one record (``group``) with several references."""
    sources = [_text(row, columns["source"], where).strip() for where, row in rows]
    targets = [_text(row, columns["target"], where).strip() for where, row in rows]
    return Dataset.from_dict({"prompt": sources, "target": targets, "group": number_groups(sources)},
                             features=E2E_FEATURES)


NORMALISERS = {"classification": _sentences, "regression": _sentences, "tagging": _tagged,
               "data_to_text": _records}
