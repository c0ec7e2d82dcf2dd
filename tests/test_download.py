"""Tests of GLUE's reader (the offline mirror and small broken copies of it) and the prepare stage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from autolora.data import load_prepared, sha256_of
from autolora.errors import ConfigError, DataError
from autolora.families.glue.data import GLUE_TASKS, load_glue_hub, read_glue_mirror
from autolora.data import split_for_search
from autolora.tasks import prepare_task
from tests.conftest import SHARED

MIRROR = SHARED / "data"
needs_mirror = pytest.mark.needs_shared("data/glue")

# Row counts from the mirror's README: (train, eval).
README_COUNTS = {
    "cola": (8551, 1043), "sst2": (67349, 872), "mrpc": (3668, 408), "stsb": (5749, 1500),
    "rte": (2490, 277), "qnli": (8999, 5463), "qqp": (8999, 1000), "mnli": (8999, 1000),
}

# Class order of the hub's nyu-mll/glue ClassLabel features, written out independently.
HUB_LABEL_ORDER = {
    "cola": ("unacceptable", "acceptable"), "sst2": ("negative", "positive"),
    "mrpc": ("not_equivalent", "equivalent"), "qqp": ("not_duplicate", "duplicate"),
    "stsb": None, "mnli": ("entailment", "neutral", "contradiction"),
    "qnli": ("entailment", "not_entailment"), "rte": ("entailment", "not_entailment"),
}

RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"
RTE_LABELS = ("not_entailment", "entailment")
RTE_ROWS = [f"{i}\tPremise number {i}.\tHypothesis {i}.\t{RTE_LABELS[i % 2]}\n" for i in range(12)]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_mirror(root: Path, files: dict[str, str | bytes], checksums: bool = True) -> Path:
    """Write files (paths relative to the mirror root) and, optionally, a SHA256SUMS over them."""
    sums = []
    for relpath, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sums.append(f"{sha256_hex(data)}  ./{relpath}\n")
    if checksums:
        (root / "SHA256SUMS").write_text("".join(sums), encoding="utf-8")
    return root


def rte_mirror(root: Path, train: str | None = None, dev: str | None = None,
               checksums: bool = True) -> Path:
    files = {"glue/RTE/train.tsv": train if train is not None else RTE_HEADER + "".join(RTE_ROWS),
             "glue/RTE/dev.tsv": dev if dev is not None else RTE_HEADER + "".join(RTE_ROWS[:4])}
    return make_mirror(root, files, checksums)


# ---------------------------------------------------------------- task table


def test_label_order_matches_hub_and_metrics():
    assert set(GLUE_TASKS) == set(HUB_LABEL_ORDER)
    for name, task in GLUE_TASKS.items():
        assert task.name == name
        assert task.label_names == HUB_LABEL_ORDER[name]
        assert task.num_labels == (1 if name == "stsb" else len(HUB_LABEL_ORDER[name]))
        assert task.is_regression == (name == "stsb")
    assert GLUE_TASKS["cola"].main_metric == "matthews_correlation"
    assert GLUE_TASKS["stsb"].main_metric == "pearson"
    others = {task.main_metric for name, task in GLUE_TASKS.items() if name not in ("cola", "stsb")}
    assert others == {"accuracy"}


# ---------------------------------------------------------------- the real mirror


@needs_mirror
@pytest.mark.parametrize("task", sorted(README_COUNTS))
def test_reads_real_mirror_with_readme_counts(task):
    data, provenance = read_glue_mirror(task, MIRROR)
    n_train, n_eval = README_COUNTS[task]
    assert (len(data["train"]), len(data["eval"])) == (n_train, n_eval)
    assert (provenance["n_train"], provenance["n_eval"]) == (n_train, n_eval)
    assert provenance["source"] == "mirror" and provenance["checksums_verified"] is True
    assert data["train"].column_names == ["idx", "text_a", "text_b", "label"]
    assert data["train"]["idx"][:3] == [0, 1, 2]
    single_sentence = task in ("cola", "sst2")
    for split in data.values():
        labels = split["label"]
        if task == "stsb":
            assert all(isinstance(x, float) and 0.0 <= x <= 5.0 for x in labels)
            assert max(labels) == 5.0 and min(labels) == 0.0
        else:
            # Every class occurs in train, none outside the task's range.
            assert set(labels) <= set(range(GLUE_TASKS[task].num_labels))
        assert all(text.strip() for text in split["text_a"])
        assert all((text == "") == single_sentence for text in split["text_b"])


@needs_mirror
def test_mirror_values_map_to_hub_label_ids():
    data, _ = read_glue_mirror("mnli", MIRROR)
    # heldout.tsv row 0 is 'entailment', RTE dev row 0 'not_entailment' (see the TSV files).
    assert data["eval"][0]["label"] == 0
    rte, _ = read_glue_mirror("rte", MIRROR)
    assert rte["eval"][0]["label"] == 1
    cola, _ = read_glue_mirror("cola", MIRROR)
    assert cola["train"][0] == {"idx": 0, "label": 1, "text_b": "",
                                "text_a": "Our friends won't buy this analysis, "
                                          "let alone the next one we propose."}


@needs_mirror
def test_mrpc_bom_is_stripped_and_quotes_kept():
    data, _ = read_glue_mirror("mrpc", MIRROR)
    first = data["eval"][0]
    assert first["label"] == 1
    assert first["text_a"].startswith("He said the foodservice pie business")
    assert first["text_b"].startswith('" The foodservice pie')  # QUOTE_NONE: quote kept as text
    for split in data.values():
        assert not any("\ufeff" in text for text in split["text_a"])


@needs_mirror
@pytest.mark.parametrize("task,official", [("qqp", False), ("mnli", False), ("rte", True)])
def test_eval_split_provenance(task, official):
    _, provenance = read_glue_mirror(task, MIRROR)
    assert provenance["eval_split"] == ("dev" if official else "heldout")
    assert provenance["eval_split_official"] is official
    eval_file = "dev.tsv" if official else "heldout.tsv"
    relpath = f"glue/{GLUE_TASKS[task].mirror_dir}/{eval_file}"
    assert provenance["files"][relpath] == sha256_of(MIRROR / relpath)
    if not official:
        assert "held-out" in provenance["eval_split_note"]


# ---------------------------------------------------------------- malformed mirrors


def test_small_mirror_reads(tmp_path):
    data, provenance = read_glue_mirror("rte", rte_mirror(tmp_path))
    assert len(data["train"]) == 12 and len(data["eval"]) == 4
    assert data["train"]["label"][:2] == [1, 0]
    assert provenance["checksums_verified"] is True


@pytest.mark.parametrize("bad_row,line_no,message", [
    ("12\tonly two columns\n", 14, "expected 4 tab-separated columns, found 2"),
    ("12\tA premise.\tA hypothesis.\tmaybe\n", 14,
     "label 'maybe' not in (entailment, not_entailment)"),
    ("12\t  \tA hypothesis.\tentailment\n", 14, "empty text in column 'sentence1'"),
    ("\n", 14, "expected 4 tab-separated columns, found 1"),
])
def test_bad_row_names_file_and_line(tmp_path, bad_row, line_no, message):
    train = RTE_HEADER + "".join(RTE_ROWS) + bad_row + RTE_ROWS[0]
    with pytest.raises(DataError) as excinfo:
        read_glue_mirror("rte", rte_mirror(tmp_path, train=train))
    assert f"glue/RTE/train.tsv line {line_no}: {message}" in str(excinfo.value)


@pytest.mark.parametrize("score,message", [("5.2", "outside [0, 5]"), ("-0.1", "outside [0, 5]"),
                                           ("nan", "outside"), ("high", "not a number")])
def test_bad_stsb_score(tmp_path, score, message):
    header = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
              "sentence1\tsentence2\tscore\n")
    row = "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane.\tAn air plane.\t{}\n"
    files = {"glue/STS-B/train.tsv": header + row.format("3.5") + row.format(score),
             "glue/STS-B/dev.tsv": header + row.format("5.000")}
    with pytest.raises(DataError) as excinfo:
        read_glue_mirror("stsb", make_mirror(tmp_path, files))
    assert "glue/STS-B/train.tsv line 3: score" in str(excinfo.value)
    assert message in str(excinfo.value)


def test_cola_without_header_counts_lines_from_one(tmp_path):
    rows = "gj04\t1\t\tGood sentence.\ngj04\t2\t*\tBad label.\n"
    files = {"glue/CoLA/train.tsv": rows, "glue/CoLA/dev.tsv": "gj04\t0\t*\tSentence.\n"}
    with pytest.raises(DataError, match=r"CoLA/train\.tsv line 2: label '2' not in \(0, 1\)"):
        read_glue_mirror("cola", make_mirror(tmp_path, files))


def test_wrong_header_is_rejected(tmp_path):
    train = "index\tpremise\thypothesis\tlabel\n" + "".join(RTE_ROWS)
    with pytest.raises(DataError, match=r"RTE/train\.tsv line 1: header"):
        read_glue_mirror("rte", rte_mirror(tmp_path, train=train))


def test_bom_and_crlf_are_tolerated(tmp_path):
    train = ("\ufeff" + RTE_HEADER + "".join(RTE_ROWS)).replace("\n", "\r\n")
    data, _ = read_glue_mirror("rte", rte_mirror(tmp_path, train=train))
    assert data["train"][0]["text_a"] == "Premise number 0."
    assert data["train"][0]["label"] == 1  # 'not_entailment', no '\r' left on the label


@pytest.mark.parametrize("content", ["", RTE_HEADER])
def test_empty_file(tmp_path, content):
    with pytest.raises(DataError, match=r"RTE/dev\.tsv: no data rows"):
        read_glue_mirror("rte", rte_mirror(tmp_path, dev=content))


def test_missing_file(tmp_path):
    mirror = rte_mirror(tmp_path)
    (mirror / "glue/RTE/dev.tsv").unlink()
    with pytest.raises(DataError, match=r"glue/RTE/dev\.tsv: file not found"):
        read_glue_mirror("rte", mirror)


def truncate_after_checksum(mirror: Path) -> Path:
    """Drop the last rows of train.tsv at a line boundary: it still parses, only the hash tells."""
    path = mirror / "glue/RTE/train.tsv"
    path.write_text(RTE_HEADER + "".join(RTE_ROWS[:6]), encoding="utf-8")
    return path


def test_truncated_file_fails_checksum(tmp_path):
    mirror = rte_mirror(tmp_path)
    expected = sha256_of(mirror / "glue/RTE/train.tsv")
    actual = sha256_of(truncate_after_checksum(mirror))
    with pytest.raises(DataError) as excinfo:
        read_glue_mirror("rte", mirror)
    message = str(excinfo.value)
    assert "glue/RTE/train.tsv" in message and expected in message and actual in message


def test_checksum_verification_can_be_skipped(tmp_path):
    mirror = rte_mirror(tmp_path)
    truncate_after_checksum(mirror)
    data, provenance = read_glue_mirror("rte", mirror, verify_checksums=False)
    assert len(data["train"]) == 6
    assert provenance["checksums_verified"] is False


def test_mirror_without_sha256sums_is_an_error_unless_verification_is_off(tmp_path):
    mirror = rte_mirror(tmp_path, checksums=False)
    with pytest.raises(DataError, match="SHA256SUMS: not found, so nothing can be verified"):
        read_glue_mirror("rte", mirror)
    data, provenance = read_glue_mirror("rte", mirror, verify_checksums=False)
    assert len(data["train"]) == 12
    assert provenance["checksums_verified"] is False
    assert "verification disabled" in provenance["checksums_note"]


def test_file_missing_from_sha256sums(tmp_path):
    mirror = rte_mirror(tmp_path)
    sums = (mirror / "SHA256SUMS").read_text().splitlines()
    (mirror / "SHA256SUMS").write_text("\n".join(s for s in sums if "dev.tsv" not in s) + "\n")
    with pytest.raises(DataError, match=r"dev\.tsv: not listed in SHA256SUMS"):
        read_glue_mirror("rte", mirror)


def test_unknown_task_lists_known_tasks(tmp_path):
    with pytest.raises(DataError, match="unknown GLUE task 'wnli'.*cola.*rte"):
        read_glue_mirror("wnli", tmp_path)


# ---------------------------------------------------------------- prepare_task


def assert_same_data(left: DatasetDict, right: DatasetDict):
    assert set(left) == set(right)
    for split in left:
        assert left[split].features == right[split].features
        assert left[split].to_dict() == right[split].to_dict()


def test_prepare_roundtrip(tmp_path):
    mirror = rte_mirror(tmp_path / "mirror")
    out_dir = tmp_path / "out" / "rte"
    provenance = prepare_task("rte", "mirror", mirror, out_dir)
    loaded, saved_provenance = load_prepared(out_dir)
    expected, _ = read_glue_mirror("rte", mirror)
    assert_same_data(loaded, expected)
    assert saved_provenance == provenance
    assert json.loads((out_dir / "provenance.json").read_text()) == provenance
    assert provenance["n_train_full"] == provenance["n_train"] == 12
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["rte"]  # no staging dirs left


def test_prepare_replaces_existing_output(tmp_path):
    mirror = rte_mirror(tmp_path / "mirror")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "stale.txt").write_text("old run")
    prepare_task("rte", "mirror", mirror, out_dir, max_train_examples=5)
    assert not (out_dir / "stale.txt").exists()
    assert len(load_prepared(out_dir)[0]["train"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "out"]


def test_a_pilot_holds_out_the_search_validation_rows_of_its_training_subset(tmp_path):
    mirror = rte_mirror(tmp_path / "mirror")
    provenance = prepare_task("rte", "mirror", mirror, tmp_path / "pilot", max_train_examples=10, subset_seed=2,
                              pilot_holdout=0.3)
    pilot, _ = load_prepared(tmp_path / "pilot")
    prepare_task("rte", "mirror", mirror, tmp_path / "subset", max_train_examples=10, subset_seed=2)
    search_train, search_validation = split_for_search(load_prepared(tmp_path / "subset")[0]["train"], 0.3, 2)
    assert pilot["train"].to_dict() == search_train.to_dict() and pilot["eval"].to_dict() == search_validation.to_dict()
    assert (provenance["n_train"], provenance["n_eval"], provenance["n_train_full"]) == (7, 3, 12)
    assert not provenance["eval_split_official"] and provenance["eval_split"] == "pilot holdout (0.3 of train)"


def test_a_pilot_never_reads_the_evaluation_split_s_labels(tmp_path):
    """Every dev label flipped: the pilot's data, and so everything it scores, is unchanged."""
    dev_rows = RTE_ROWS[:4]
    flipped = [row.replace("\tnot_entailment\n", "\tX\n").replace("\tentailment\n", "\tnot_entailment\n")
               .replace("\tX\n", "\tentailment\n") for row in dev_rows]
    assert flipped != dev_rows
    clean, poisoned = (rte_mirror(tmp_path / name, dev=RTE_HEADER + "".join(rows))
                       for name, rows in (("clean", dev_rows), ("poisoned", flipped)))
    for mirror in (clean, poisoned):
        prepare_task("rte", "mirror", mirror, tmp_path / "out" / mirror.name, pilot_holdout=0.3)
    assert_same_data(load_prepared(tmp_path / "out" / "clean")[0], load_prepared(tmp_path / "out" / "poisoned")[0])
    # The same poisoning does change a run that reports the evaluation split: the check can fail.
    for mirror in (clean, poisoned):
        prepare_task("rte", "mirror", mirror, tmp_path / "reported" / mirror.name)
    assert (load_prepared(tmp_path / "reported" / "clean")[0]["eval"]["label"]
            != load_prepared(tmp_path / "reported" / "poisoned")[0]["eval"]["label"])


def test_failing_read_leaves_no_output(tmp_path):
    mirror = rte_mirror(tmp_path / "mirror", dev=RTE_HEADER + "0\tA.\tB.\tmaybe\n")
    with pytest.raises(DataError):
        prepare_task("rte", "mirror", mirror, tmp_path / "out" / "rte")
    assert not (tmp_path / "out" / "rte").exists()


def test_failing_write_leaves_no_partial_output(tmp_path, monkeypatch):
    mirror = rte_mirror(tmp_path / "mirror")
    out_parent = tmp_path / "out"

    def save_half_then_fail(self, path, *args, **kwargs):
        (Path(path) / "train").mkdir(parents=True)
        raise OSError("disk full")

    monkeypatch.setattr(DatasetDict, "save_to_disk", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        prepare_task("rte", "mirror", mirror, out_parent / "rte")
    assert list(out_parent.iterdir()) == []


@needs_mirror
def test_subset_is_deterministic_and_seeded(tmp_path):
    first = prepare_task("rte", "mirror", MIRROR, tmp_path / "a", max_train_examples=50)
    second = prepare_task("rte", "mirror", MIRROR, tmp_path / "b", max_train_examples=50)
    other_seed = prepare_task("rte", "mirror", MIRROR, tmp_path / "c", max_train_examples=50,
                              subset_seed=1)
    a, b, c = (load_prepared(tmp_path / name)[0] for name in "abc")
    assert_same_data(a, b)
    assert a["train"]["text_a"] != c["train"]["text_a"]
    assert len(a["train"]) == 50 and len(a["eval"]) == 277  # eval untouched without max_eval_examples
    full, _ = read_glue_mirror("rte", MIRROR)
    full_rows = set(zip(full["train"]["text_a"], full["train"]["text_b"], full["train"]["label"]))
    assert set(zip(a["train"]["text_a"], a["train"]["text_b"], a["train"]["label"])) <= full_rows
    assert first == second
    assert (first["n_train_full"], first["n_train"], first["subset_seed"]) == (2490, 50, 0)
    assert other_seed["subset_seed"] == 1


def test_prepare_rejects_bad_arguments(tmp_path):
    mirror = rte_mirror(tmp_path / "mirror")
    with pytest.raises(ConfigError, match="unknown task .wnli.; built-in tasks"):
        prepare_task("wnli", "mirror", mirror, tmp_path / "out")
    with pytest.raises(ConfigError, match="data.source 'ftp'"):
        prepare_task("rte", "ftp", mirror, tmp_path / "out")
    with pytest.raises(ValueError, match="max_train_examples"):
        prepare_task("rte", "mirror", mirror, tmp_path / "out", max_train_examples=0)
    assert not (tmp_path / "out").exists()


def test_load_prepared_requires_provenance(tmp_path):
    with pytest.raises(DataError, match="provenance.json"):
        load_prepared(tmp_path)


# ---------------------------------------------------------------- hub (faked: no network here)


def fake_hub_split(columns: dict, label_feature) -> Dataset:
    features = {name: Value("string") for name in columns}
    features.update(idx=Value("int32"), label=label_feature)
    return Dataset.from_dict(columns, features=Features(features))


def install_fake_hub(monkeypatch, splits: dict[str, Dataset]) -> list:
    calls = []

    def fake_load_dataset(path, name, *args, **kwargs):
        calls.append((path, name))
        return DatasetDict(splits)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    return calls


def test_hub_mnli_maps_columns_and_uses_matched_validation(monkeypatch):
    labels = ClassLabel(names=["entailment", "neutral", "contradiction"])

    def split(tag, n):
        return fake_hub_split({"premise": [f"{tag} p{i}" for i in range(n)],
                               "hypothesis": [f"{tag} h{i}" for i in range(n)],
                               "label": list(range(n)), "idx": list(range(n))}, labels)

    calls = install_fake_hub(monkeypatch, {"train": split("train", 3),
                                           "validation_matched": split("matched", 2),
                                           "validation_mismatched": split("mismatched", 1)})
    data, provenance = load_glue_hub("mnli")
    assert calls == [("nyu-mll/glue", "mnli")]
    assert data["train"][2] == {"idx": 2, "text_a": "train p2", "text_b": "train h2", "label": 2}
    assert data["eval"]["text_a"] == ["matched p0", "matched p1"]
    assert data["train"].features == GLUE_TASKS["mnli"].features()
    assert provenance["source"] == "hub" and provenance["eval_split_official"] is True
    assert (provenance["n_train"], provenance["n_eval"]) == (3, 2)


@needs_mirror
def test_hub_single_sentence_matches_mirror_schema(monkeypatch):
    labels = ClassLabel(names=["unacceptable", "acceptable"])
    split = fake_hub_split({"sentence": ["Good.", "Bad bad."], "label": [1, 0], "idx": [0, 1]},
                           labels)
    install_fake_hub(monkeypatch, {"train": split, "validation": split, "test": split})
    hub, _ = load_glue_hub("cola")
    mirror, _ = read_glue_mirror("cola", MIRROR)
    assert hub["eval"].to_dict() == {"idx": [0, 1], "text_a": ["Good.", "Bad bad."],
                                     "text_b": ["", ""], "label": [1, 0]}
    assert hub["train"].features == mirror["train"].features


def test_hub_stsb_scores_are_floats(monkeypatch):
    split = fake_hub_split({"sentence1": ["A."], "sentence2": ["B."], "label": [3.8], "idx": [0]},
                           Value("float32"))
    install_fake_hub(monkeypatch, {"train": split, "validation": split})
    data, _ = load_glue_hub("stsb")
    assert data["eval"][0]["label"] == pytest.approx(3.8)
    assert (data["eval"][0]["text_a"], data["eval"][0]["text_b"]) == ("A.", "B.")


def test_hub_with_different_label_order_is_refused(monkeypatch):
    swapped = ClassLabel(names=["not_entailment", "entailment"])
    split = fake_hub_split({"sentence1": ["A."], "sentence2": ["B."], "label": [0], "idx": [0]},
                           swapped)
    install_fake_hub(monkeypatch, {"train": split, "validation": split})
    with pytest.raises(DataError, match="hub labels"):
        load_glue_hub("rte")


def test_prepare_from_hub_writes_provenance(tmp_path, monkeypatch):
    split = fake_hub_split({"sentence1": ["A.", "C."], "sentence2": ["B.", "D."],
                            "label": [0, 1], "idx": [0, 1]},
                           ClassLabel(names=["entailment", "not_entailment"]))
    install_fake_hub(monkeypatch, {"train": split, "validation": split})
    provenance = prepare_task("rte", "hub", None, tmp_path / "out")
    loaded, saved = load_prepared(tmp_path / "out")
    assert saved == provenance and saved["source"] == "hub"
    assert loaded["eval"]["text_b"] == ["B.", "D."]


@needs_mirror
def test_two_seeds_draw_different_training_subsets_and_share_the_evaluation_rows(tmp_path):
    """data.subset_per_seed: the run seed draws the training subset (train_subset_seed), so two
    seeds train on different rows, named by their digest, and are scored on the same ones."""
    from autolora.config import data_for_seed

    data = {"max_train_examples": 200, "subset_seed": 0, "subset_per_seed": True}
    assert data_for_seed(data, 3)["train_subset_seed"] == 3
    assert data_for_seed({**data, "subset_per_seed": False}, 3) == {**data, "subset_per_seed": False}
    prepared = {}
    for seed in (0, 1):
        view = data_for_seed(data, seed)
        provenance = prepare_task("sst2", "mirror", SHARED / "data", tmp_path / f"seed{seed}", max_train_examples=200,
                                  max_eval_examples=50, subset_seed=view["subset_seed"],
                                  train_subset_seed=view["train_subset_seed"])
        prepared[seed] = (load_prepared(tmp_path / f"seed{seed}")[0], provenance)
    (first, first_record), (second, second_record) = prepared[0], prepared[1]
    assert first_record["train_subset_seed"] == 0 and second_record["train_subset_seed"] == 1
    assert first_record["train_sha256"] != second_record["train_sha256"]
    assert first["train"]["text_a"] != second["train"]["text_a"] and len(second["train"]) == 200
    assert first["eval"]["text_a"] == second["eval"]["text_a"]
