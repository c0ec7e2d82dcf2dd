"""A user's own task through the config alone (``own_tasks``): reading files of every kind,
clear errors for bad files and entries, and the example config through the whole DAG."""

import json

import pytest
import yaml

from autolora.config import SCORING_STAGES, STAGE_INPUTS, stage_view, task_config, validate_config
from autolora.data import load_prepared
from autolora.errors import ConfigError, DataError
from autolora.metrics import glue_metrics
from autolora.families.ner import entity_types
from autolora.tasks import get_spec, prepare_task
from tests.conftest import REPO
from tests.test_pipeline import snakemake

EXAMPLE = REPO / "config" / "example-own-task.yaml"


def example_config(**own_changes) -> dict:
    """The example config with the task files' paths made absolute (runs from any directory)."""
    config = yaml.safe_load(EXAMPLE.read_text())
    for name, entry in config["own_tasks"].items():
        for split in ("train", "eval"):
            entry[split] = str(REPO / entry[split])
        entry.update(own_changes.get(name, {}))
    return config


def read(name: str, tmp_path, **own_changes):
    config = validate_config(example_config(**{name: own_changes}))
    prepare_task(name, "mirror", config["data"]["mirror"], tmp_path / name)
    return load_prepared(tmp_path / name)


def test_each_kind_is_read_into_its_familys_schema(tmp_path):
    reviews, provenance = read("reviews", tmp_path)
    assert reviews["train"].features["label"].names == ["negative", "positive"]
    assert len(reviews["train"]) == 70 and len(reviews["eval"]) == 30 and provenance["source"] == "files"
    similarity, _ = read("similarity", tmp_path)
    assert similarity["train"][0]["text_b"] and isinstance(similarity["train"][0]["label"], float)
    genes, _ = read("genes", tmp_path)
    assert genes["train"].features["tags"].feature.names == ["O", "B-GENE", "I-GENE", "B-CHEM", "I-CHEM"]
    captions, _ = read("captions", tmp_path)
    assert sorted(set(captions["eval"]["group"])) == list(range(6))  # 12 rows: 6 records, 2 references each


def test_own_tasks_get_their_family_head_and_metric():
    validate_config(example_config())
    assert [get_spec(task).family for task in ("reviews", "similarity", "genes", "captions")] == ["glue", "glue", "ner", "nlg"]
    assert get_spec("genes").num_labels == 5 and entity_types(get_spec("genes")) == ("GENE", "CHEM")
    assert get_spec("similarity").num_labels == 1 and get_spec("similarity").main_metric == "pearson"
    assert get_spec("captions").num_labels is None and get_spec("captions").main_metric == "BLEU"


def test_built_in_tasks_keep_their_job_params_and_a_new_metric_only_rescores():
    """An own task's definition joins only its own jobs' params, so adding the own_tasks key
    reruns no finished job of a built-in task; its metric only the scoring stages'."""
    config = validate_config(example_config())
    for stage in STAGE_INPUTS:
        own = stage_view(task_config(config, "reviews"), stage)["own_task"]
        assert ("metric" in own) == (stage in SCORING_STAGES)
        assert "own_task" not in stage_view(task_config(config, "rte"), stage)
    assert "own_tasks" not in validate_config(yaml.safe_load((REPO / "config" / "cpu.yaml").read_text()), base_dir=REPO)


def test_hub_class_ids_are_read_as_class_names():
    from datasets import ClassLabel, Dataset, Features, List, Value

    from autolora.own_task import _with_class_names

    split = Dataset.from_dict({"text": ["a", "b"], "label": [1, 0], "tags": [[0, 1], [2]]}, features=Features(
        {"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]),
         "tags": List(ClassLabel(names=["O", "B-X", "I-X"]))}))
    assert _with_class_names(split.to_list(), split.features) == [
        {"text": "a", "label": "pos", "tags": ["O", "B-X"]}, {"text": "b", "label": "neg", "tags": ["I-X"]}]


@pytest.mark.parametrize("changes, message", [
    ({"labels": ["neg", "pos"]}, r"reviews-train.csv line 2: label 'positive' is not one of the config's labels"),
    ({"columns": {"text": "review", "label": "stars"}}, r"reviews-train.csv line 2: no column \['stars'\]"),
])
def test_a_bad_row_or_column_map_names_file_and_line(tmp_path, changes, message):
    with pytest.raises(DataError, match=message):
        read("reviews", tmp_path, **changes)


GENES = (REPO / "tests/data/own-task/genes-train.jsonl").read_text().splitlines()


@pytest.mark.parametrize("task, file_name, text, message", [
    ("genes", "genes.jsonl", "\n".join([GENES[0], GENES[1].replace('"O"', '"B-DRUG"', 1), GENES[2]]),
     r" line 2: tags \['B-DRUG'\] are not among the config's labels"),
    ("genes", "genes.jsonl", GENES[0] + "\n{not json", " line 2: not JSON"),
    ("reviews", "empty.csv", "review,sentiment", r" \(own_tasks.reviews.train\): no data rows"),
    ("similarity", "similarity.tsv", "first\tsecond\tscore\na cat\ta dog\tnan", " line 2: label 'nan' is not a finite number"),
    ("reviews", "reviews.csv", "review,sentiment\ngood film,positive\nbad film,negative,extra", " line 3: 2 columns expected"),
])
def test_bad_rows_of_each_format_name_file_and_line(tmp_path, task, file_name, text, message):
    broken = tmp_path / file_name
    broken.write_text(text + "\n")
    with pytest.raises(DataError, match=rf"{broken}{message}"):
        read(task, tmp_path, train=str(broken))


@pytest.mark.parametrize("changes, message", [
    ({"hub": {"id": "x/y", "train_split": "train", "eval_split": "test"}}, "own_tasks.reviews: give either train and eval files or hub, not both"),
    ({"labels": None}, "own_tasks.reviews.labels: a classification task lists its classes"),
    ({"metric": "bleu"}, r"own_tasks.reviews.metric: 'bleu' is not computed for a classification task"),
    ({"columns": {"text": "review"}}, r"own_tasks.reviews.columns: .* missing \['label'\]"),
    ({"train": "nowhere.csv"}, "own_tasks.reviews.train: nowhere.csv does not exist"),
    ({"train": "reviews.xlsx"}, "own_tasks.reviews.train: reviews.xlsx is not .csv, .tsv or .jsonl"),
    ({"kind": "ranking"}, r"own_tasks.reviews.kind: own task kind 'ranking': no task family takes it \(kinds: "
                          r"classification, regression, data_to_text, tagging\)"),
    ({"kind": "tagging", "labels": ["O", "X-gene"], "columns": {"tokens": "words", "tags": "tags"}},
     r"own_tasks.reviews.labels: IOB2 tags are O, B-<type> and I-<type>; bad \['X-gene'\]"),
    ({"kind": "regression"}, "own_tasks.reviews.labels: a regression task has no classes"),
])
def test_a_bad_own_task_entry_is_a_config_error_naming_its_key(changes, message):
    config = example_config(reviews=changes)
    if changes.get("labels", "") is None:
        del config["own_tasks"]["reviews"]["labels"]
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_task_names_must_be_known_and_not_shadow_built_ins():
    config = example_config()
    config["tasks"] = ["reviews", "reveiws"]
    with pytest.raises(ConfigError, match=r"config key tasks.1: unknown task 'reveiws'.*own tasks: reviews"):
        validate_config(config)
    for taken in ("rte", "cost", "glue"):
        config = example_config()
        config["own_tasks"][taken] = config["own_tasks"].pop("reviews")
        config["tasks"] = [taken]
        with pytest.raises(ConfigError, match=rf"own_tasks: \['{taken}'\] are built-in tasks or names of the pipeline"):
            validate_config(config)


def test_own_classification_and_regression_metrics():
    scores = glue_metrics("classification", [0, 1, 1, 2], [0, 1, 2, 2])
    assert scores["accuracy"] == 0.75 and set(scores) == {"accuracy", "f1", "matthews_correlation"}
    # F1's kind follows the class count, not the classes a split happens to hold
    assert glue_metrics("classification", [0, 1, 1], [0, 1, 0])["f1"] == pytest.approx(2 / 3)
    assert glue_metrics("binary_classification", [0, 1, 1], [0, 1, 0])["f1"] == pytest.approx(2 / 3)
    assert glue_metrics("classification", [0, 1, 1, 0], [0, 1, 0, 0])["f1"] != glue_metrics(
        "binary_classification", [0, 1, 1, 0], [0, 1, 0, 0])["f1"]
    assert get_spec("reviews").metric_config == "binary_classification"
    assert set(glue_metrics("regression", [0.1, 0.5, 0.9], [0.0, 0.6, 1.0])) == {"pearson", "spearman"}


@pytest.mark.slow
def test_the_example_config_runs_end_to_end(tmp_path):
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(example_config()))
    result = snakemake(tmp_path, config_path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results" / "example-own-task"
    for family, task, metric in (("glue", "reviews", "accuracy"), ("glue", "similarity", "pearson"),
                                 ("ner", "genes", "f1"), ("nlg", "captions", "BLEU")):
        metrics = json.loads((results / family / task / "seed0" / "metrics.json").read_text())
        assert metrics["main_metric"] == metric and metric in metrics["metrics"]
    genes = json.loads((results / "ner" / "genes" / "seed0" / "metrics.json").read_text())["metrics"]
    assert {"f1_GENE", "f1_CHEM"} <= set(genes)
    glue = (results / "tables" / "glue.md").read_text()
    assert "| reviews | similarity |" in glue and "reviews 53.3 (majority class)" in glue
    assert (results / "tables" / "genes.md").exists() and (results / "tables" / "captions.md").exists()
