"""GLUE-like tasks: sentence(-pair) classification and regression with an encoder and a
sequence-classification head (GLUE's tasks, and own ``classification``/``regression`` tasks).

Rows are (text_a, text_b) pairs truncated to ``max_length`` as the paper's code does; the
reported split is scored with the benchmark's metrics (``autolora/evaluate_modules/glue``), one
prediction line per example; the trivial baseline (majority class or a constant) is recorded.
"""

from __future__ import annotations

import numpy as np
from datasets import DatasetDict, load_from_disk

from autolora.families.glue import data as glue_data
from autolora.families.base import Family, OwnKind, TaskSpec, register
from autolora.metrics import glue_metrics, load_metric, trivial_baseline

TEXT_COLUMNS = ("text_a", "text_b")


# Each task's name in the paper's GLUE table, in its column order.
PAPER_LABELS = {"mnli": "MNLI", "sst2": "SST-2", "mrpc": "MRPC", "cola": "CoLA", "qnli": "QNLI", "qqp": "QQP",
                "rte": "RTE", "stsb": "STS-B"}


def _spec(task: glue_data.GlueTask) -> TaskSpec:
    return TaskSpec(
        label=PAPER_LABELS[task.name],
        name=task.name,
        family="glue",
        mirror_folder="glue",
        read_mirror=lambda mirror, verify: glue_data.read_glue_mirror(task.name, mirror, verify),
        load_hub=lambda: glue_data.load_glue_hub(task.name),
        eval_split="eval",
        eval_split_official=task.eval_split_official,
        num_labels=task.num_labels,
        main_metric=task.main_metric,
        metric_config=task.name,
        labels=task.label_names,
    )


def tokenize_pairs(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Encode (text_a, text_b) pairs, truncated to ``max_length``; padding happens per batch."""

    def encode(batch):
        second = batch["text_b"] if any(batch["text_b"]) else None
        encoded = tokenizer(batch["text_a"], second, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=[*TEXT_COLUMNS, "label"], desc="tokenising")


def _predictions(model, rows, tokenizer, config: dict, device) -> np.ndarray:
    from autolora.training import predict  # torch, loaded on use: validating a config reads the families

    return predict(model, rows, tokenizer, config["retrain"]["eval_batch_size"], device,
                   is_regression=config["num_labels"] == 1)


def evaluate_glue(model, tokenizer, tokenized_dir, prepared_dir, config: dict, spec: TaskSpec, device):
    evaluation = load_from_disk(str(tokenized_dir))["eval"]
    predictions = _predictions(model, evaluation, tokenizer, config, device)
    labels = np.asarray(evaluation["labels"])
    metrics = load_metric("glue", spec.metric_config).compute(predictions=predictions, references=labels)
    # 9 significant digits: a float32 score (STS-B) reads back exactly, so do the metrics.
    return metrics, [f"{p:.9g}" for p in predictions]


def score_rows(model, rows, tokenizer, config: dict, spec: TaskSpec, device) -> dict:
    """The task's metrics on tokenised rows (search-validation, or the dev set per epoch)."""
    return glue_metrics(spec.metric_config, _predictions(model, rows, tokenizer, config, device),
                        np.asarray(rows["labels"]))


def glue_eval_labels(tokenized_dir) -> list:
    return load_from_disk(str(tokenized_dir))["eval"]["labels"]


def glue_trivial_baseline(tokenized_dir, spec: TaskSpec) -> dict:
    """What learning nothing scores on the evaluation labels (``metrics.trivial_baseline``)."""
    labels = load_from_disk(str(tokenized_dir))["eval"]["labels"]
    return trivial_baseline(spec.metric_config, labels)


GLUE = register(Family(
    name="glue",
    tasks=tuple(_spec(task) for task in glue_data.GLUE_TASKS.values()),
    tokenize=tokenize_pairs,
    auto_model="AutoModelForSequenceClassification",
    model_kwargs=lambda spec, config: {"num_labels": config["num_labels"]},
    peft_task_type="SEQ_CLS",
    evaluate=evaluate_glue,
    score_rows=score_rows,
    choice_metric=lambda spec: (spec.main_metric, True),
    trivial_baseline=glue_trivial_baseline,
    per_epoch_dev_scores=True,
    eval_labels=glue_eval_labels,
    shared_table=True,
    table_title="GLUE",
    table_order=tuple(PAPER_LABELS),
    own_kinds=(
        OwnKind("classification", columns=("text", "label"), optional_columns=("text_pair",),
                metrics=("accuracy", "f1", "matthews_correlation"), normalise=glue_data.own_sentences,
                num_labels=len, labels="classes",
                metric_config=lambda labels: "binary_classification" if len(labels) == 2 else "classification"),
        OwnKind("regression", columns=("text", "label"), optional_columns=("text_pair",),
                metrics=("pearson", "spearman"), normalise=glue_data.own_sentences,
                num_labels=lambda labels: 1, metric_config=lambda labels: "regression"),
    ),
))
