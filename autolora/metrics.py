"""GLUE metrics as the benchmark defines them (what the hub's metric scripts wrap)."""

from __future__ import annotations

import numpy as np

from autolora.plumbing.package_files import EVALUATE_MODULES


def load_metric(name: str, config_name: str | None = None):
    """One of the package's ``evaluate`` modules (glue, bionlp, e2e, webnlg2017), loaded from its
    folder: no network, kept in memory (no cache files for parallel jobs to share)."""
    import evaluate

    return evaluate.load(str(EVALUATE_MODULES / name), config_name, keep_in_memory=True)


def module_info(card: str, citation: str, inputs: str, predictions, references=None):
    """The ``evaluate.MetricInfo`` of one of our modules: its card (the module docstring), what
    to cite, its inputs, and the ``datasets`` feature types of predictions and references."""
    import datasets
    import evaluate

    return evaluate.MetricInfo(description=card, citation=citation, inputs_description=inputs,
                               features=datasets.Features({"predictions": predictions,
                                                           "references": references or predictions}))


REGRESSION = ("stsb", "regression")
# The settings of tasks outside GLUE (the config's own_tasks): F1 of the positive class for two
# classes, macro F1 for more, decided by the class count, not by the labels a split happens to hold.
OWN_TASK_METRIC_CONFIGS = ("binary_classification", "classification", "regression")


def glue_metrics(task: str, predictions, labels) -> dict[str, float]:
    """CoLA: Matthews corr.; STS-B: Pearson and Spearman; MRPC, QQP: accuracy and F1; others: accuracy.
    A user's own task names its kind instead (``OWN_TASK_METRIC_CONFIGS``): ``regression`` (Pearson,
    Spearman), ``binary_classification`` or ``classification`` (accuracy, F1 of the positive class
    or macro F1, MCC)."""
    # Imported here: every job imports this module, few score (scipy and sklearn take about a second).
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if task in REGRESSION:
        return {
            "pearson": float(pearsonr(predictions, labels)[0]),
            "spearman": float(spearmanr(predictions, labels)[0]),
        }
    if task == "cola":
        return {"matthews_correlation": float(matthews_corrcoef(labels, predictions))}
    metrics = {"accuracy": float(accuracy_score(labels, predictions))}
    if task in ("mrpc", "qqp"):
        metrics["f1"] = float(f1_score(labels, predictions))
    if task in ("binary_classification", "classification"):
        average = "binary" if task == "binary_classification" else "macro"
        metrics["f1"] = float(f1_score(labels, predictions, average=average))
        metrics["matthews_correlation"] = float(matthews_corrcoef(labels, predictions))
    return metrics


def trivial_baseline(task: str, labels) -> dict:
    """What a model that learnt nothing scores on these labels: the majority class for every
    example (accuracy = the majority rate, MCC 0), or, for regression, a constant prediction,
    whose correlation with the labels is 0 (Pearson is undefined for a constant; 0 is its
    limit and the value every table should be read against)."""
    labels = np.asarray(labels)
    if task in REGRESSION:
        return {"predictor": "a constant", "pearson": 0.0, "spearman": 0.0}
    values, counts = np.unique(labels, return_counts=True)
    majority = values[np.argmax(counts)]
    return {"predictor": "majority class", **glue_metrics(task, np.full_like(labels, majority), labels)}
