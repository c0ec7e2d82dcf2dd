"""GLUE's reader: the offline TSV mirror or the Hugging Face hub, read into one schema.

Both sources yield a ``DatasetDict`` with splits ``train`` and ``eval`` and the columns
``idx`` (int), ``text_a`` (str), ``text_b`` (str, "" for single-sentence tasks) and ``label``
(class id whose order equals the hub's ``nyu-mll/glue`` ClassLabel, or a float score for STS-B).
Every prepared dataset is saved together with a provenance record saying where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from autolora.data import checksum_status, checksums_to_verify, read_mirror_file, read_tsv_lines
from autolora.errors import DataError
from autolora.families.base import label_ids, label_of, text_of

HUB_DATASET = "nyu-mll/glue"
STSB_SCORE_RANGE = (0.0, 5.0)


@dataclass(frozen=True)
class GlueTask:
    """How one GLUE task is laid out in the mirror and on the hub, and how it is scored."""

    name: str  # hub config name
    mirror_dir: str  # folder under <mirror>/glue
    mirror_columns: tuple[str, ...]  # the TSV header; CoLA has none, its names serve messages only
    mirror_has_header: bool
    text_fields: tuple[str, ...]  # mirror columns that become text_a (and text_b)
    label_field: str  # mirror column holding the label
    mirror_label_values: tuple[str, ...] | None  # raw TSV labels, in the order of label_names
    hub_text_fields: tuple[str, ...]  # hub columns that become text_a (and text_b)
    label_names: tuple[str, ...] | None  # None means regression (STS-B)
    main_metric: str = "accuracy"
    eval_file: str = "dev.tsv"  # "heldout.tsv" where the mirror lacks the official dev set
    hub_eval_split: str = "validation"

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def eval_split(self) -> str:
        return Path(self.eval_file).stem

    @property
    def eval_split_official(self) -> bool:
        return self.eval_file == "dev.tsv"

    def features(self) -> Features:
        """The normalised schema; both sources are cast to it so their outputs compare equal."""
        return sentence_features(self.label_names)


def sentence_features(label_names: tuple[str, ...] | None) -> Features:
    """The schema of a sentence(-pair) task: class ids into ``label_names``, or a float score
    where they are None (regression)."""
    label = Value("float32") if label_names is None else ClassLabel(names=list(label_names))
    return Features({"idx": Value("int32"), "text_a": Value("string"), "text_b": Value("string"), "label": label})


GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", "CoLA", ("source", "label", "original_label", "sentence"), False,
                 ("sentence",), "label", ("0", "1"), ("sentence",),
                 ("unacceptable", "acceptable"), main_metric="matthews_correlation"),
        GlueTask("sst2", "SST-2", ("sentence", "label"), True,
                 ("sentence",), "label", ("0", "1"), ("sentence",), ("negative", "positive")),
        GlueTask("mrpc", "MRPC", ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"), True,
                 ("#1 String", "#2 String"), "Quality", ("0", "1"), ("sentence1", "sentence2"),
                 ("not_equivalent", "equivalent")),
        GlueTask("qqp", "QQP", ("id", "question1", "question2", "is_duplicate"), True,
                 ("question1", "question2"), "is_duplicate", ("0", "1"), ("question1", "question2"),
                 ("not_duplicate", "duplicate"), eval_file="heldout.tsv"),
        GlueTask("stsb", "STS-B", ("index", "genre", "filename", "year", "old_index", "source1",
                                   "source2", "sentence1", "sentence2", "score"), True,
                 ("sentence1", "sentence2"), "score", None, ("sentence1", "sentence2"), None,
                 main_metric="pearson"),
        GlueTask("mnli", "MNLI", ("index", "sentence1", "sentence2", "gold_label"), True,
                 ("sentence1", "sentence2"), "gold_label",
                 ("entailment", "neutral", "contradiction"), ("premise", "hypothesis"),
                 ("entailment", "neutral", "contradiction"), eval_file="heldout.tsv",
                 hub_eval_split="validation_matched"),
        GlueTask("qnli", "QNLI", ("index", "question", "sentence", "label"), True,
                 ("question", "sentence"), "label", ("entailment", "not_entailment"),
                 ("question", "sentence"), ("entailment", "not_entailment")),
        GlueTask("rte", "RTE", ("index", "sentence1", "sentence2", "label"), True,
                 ("sentence1", "sentence2"), "label",
                 ("entailment", "not_entailment"), ("sentence1", "sentence2"),
                 ("entailment", "not_entailment")),
    )
}


def get_task(task: str) -> GlueTask:
    if task not in GLUE_TASKS:
        raise DataError(f"unknown GLUE task {task!r}; known tasks: {', '.join(GLUE_TASKS)}")
    return GLUE_TASKS[task]


def parse_label(raw: str, spec: GlueTask, where: str) -> int | float:
    if spec.is_regression:
        try:
            score = float(raw)
        except ValueError:
            raise DataError(f"{where}: score {raw!r} is not a number") from None
        low, high = STSB_SCORE_RANGE
        if not low <= score <= high:  # also rejects nan
            raise DataError(f"{where}: score {raw!r} outside [{low:g}, {high:g}]")
        return score
    if raw not in spec.mirror_label_values:
        raise DataError(f"{where}: label {raw!r} not in ({', '.join(spec.mirror_label_values)})")
    return spec.mirror_label_values.index(raw)


def parse_row(fields: list[str], spec: GlueTask, where: str) -> tuple[str, str, int | float]:
    """(text_a, text_b, label) of one TSV row; the row's shape was checked by the caller."""
    row = dict(zip(spec.mirror_columns, fields))
    texts = [row[column] for column in spec.text_fields]
    for column, text in zip(spec.text_fields, texts):
        if not text.strip():
            raise DataError(f"{where}: empty text in column {column!r}")
    text_b = texts[1] if len(texts) == 2 else ""
    return texts[0], text_b, parse_label(row[spec.label_field], spec, where)


def check_header(header: str, spec: GlueTask, path: Path) -> None:
    found = tuple(header.split("\t"))
    if found != spec.mirror_columns:
        raise DataError(f"{path} line 1: header {list(found)} differs from the expected "
                        f"{list(spec.mirror_columns)} of {spec.mirror_dir}")


def read_tsv_split(path: Path, spec: GlueTask) -> Dataset:
    """Parse and validate one mirror TSV file; any bad row raises DataError naming file and line."""
    lines = read_tsv_lines(path)
    first_data_line = 1
    if spec.mirror_has_header and lines:
        check_header(lines[0], spec, path)
        first_data_line = 2
    columns = {"idx": [], "text_a": [], "text_b": [], "label": []}
    n_columns = len(spec.mirror_columns)
    # QUOTE_NONE semantics: quotes are ordinary text in GLUE (MRPC, SST-2), so split on tabs only.
    for line_no, line in enumerate(lines[first_data_line - 1:], start=first_data_line):
        where = f"{path} line {line_no}"
        fields = line.split("\t")
        if len(fields) != n_columns:
            raise DataError(f"{where}: expected {n_columns} tab-separated columns, "
                            f"found {len(fields)}")
        text_a, text_b, label = parse_row(fields, spec, where)
        # idx is the row's position, as on the hub; the mirror's own id columns are not uniform.
        columns["idx"].append(len(columns["idx"]))
        columns["text_a"].append(text_a)
        columns["text_b"].append(text_b)
        columns["label"].append(label)
    if not columns["idx"]:
        raise DataError(f"{path}: no data rows")
    return Dataset.from_dict(columns, features=spec.features())


def eval_split_note(spec: GlueTask) -> str:
    if spec.eval_split_official:
        return "official GLUE dev set"
    return "held-out split drawn from train; official dev unavailable in the mirror"


def read_glue_mirror(task: str, mirror: Path | str,
                     verify_checksums: bool = True) -> tuple[DatasetDict, dict]:
    """Read ``<mirror>/glue/<Task>/{train,dev|heldout}.tsv`` into the normalised schema."""
    spec = get_task(task)
    mirror = Path(mirror)
    checksums = checksums_to_verify(mirror, verify_checksums)
    splits, hashes = {}, {}
    for split, filename in (("train", "train.tsv"), ("eval", spec.eval_file)):
        path = read_mirror_file(mirror, f"glue/{spec.mirror_dir}/{filename}", checksums, hashes)
        splits[split] = read_tsv_split(path, spec)
    provenance = {
        "source": "mirror",
        "task": spec.name,
        "mirror": str(mirror),
        "files": hashes,
        "checksums_verified": checksums is not None,
        "checksums_note": checksum_status(checksums, verify_checksums),
        "eval_split": spec.eval_split,
        "eval_split_official": spec.eval_split_official,
        "eval_split_note": eval_split_note(spec),
        "n_train": len(splits["train"]),
        "n_eval": len(splits["eval"]),
    }
    return DatasetDict(splits), provenance


def check_hub_labels(split: Dataset, spec: GlueTask) -> None:
    """Refuse a hub copy whose class order differs from ours: label ids would silently swap."""
    feature = split.features["label"]
    if spec.is_regression or not isinstance(feature, ClassLabel):
        return
    if tuple(feature.names) != spec.label_names:
        raise DataError(f"{HUB_DATASET}/{spec.name}: hub labels {feature.names} differ from "
                        f"the expected {list(spec.label_names)}")


def normalise_hub_split(split: Dataset, spec: GlueTask) -> Dataset:
    check_hub_labels(split, spec)
    renames = dict(zip(spec.hub_text_fields, ("text_a", "text_b")))
    split = split.select_columns(["idx", *spec.hub_text_fields, "label"]).rename_columns(renames)
    if "text_b" not in split.column_names:
        split = split.add_column("text_b", [""] * len(split))
    return split.select_columns(["idx", "text_a", "text_b", "label"]).cast(spec.features())


def load_glue_hub(task: str) -> tuple[DatasetDict, dict]:
    """Load ``nyu-mll/glue`` from the hub into the normalised schema (eval = official dev)."""
    spec = get_task(task)
    raw = datasets.load_dataset(HUB_DATASET, spec.name)
    splits = DatasetDict({"train": normalise_hub_split(raw["train"], spec),
                          "eval": normalise_hub_split(raw[spec.hub_eval_split], spec)})
    provenance = {
        "source": "hub",
        "task": spec.name,
        "hub_dataset": HUB_DATASET,
        "hub_eval_split": spec.hub_eval_split,
        "eval_split": "validation",
        "eval_split_official": True,
        "eval_split_note": f"official GLUE dev set (hub split {spec.hub_eval_split})",
        "n_train": len(splits["train"]),
        "n_eval": len(splits["eval"]),
    }
    return splits, provenance


def own_sentences(rows, columns: dict, labels: tuple[str, ...] | None) -> Dataset:
    """An own classification task's rows (or, ``labels`` None, a regression task's) in the GLUE
    schema (``autolora.own_task``)."""
    text_pair, ids = columns.get("text_pair"), label_ids(labels) if labels else None
    data = {"idx": list(range(len(rows))),
            "text_a": [text_of(row, columns["text"], where) for where, row in rows],
            "text_b": [text_of(row, text_pair, where) if text_pair else "" for where, row in rows],
            "label": [label_of(row[columns["label"]], ids, where) for where, row in rows]}
    return Dataset.from_dict(data, features=sentence_features(labels))
