"""Paired comparisons of AutoLoRA with its baselines: tests, intervals and equivalence.

``paired_t_test``: the main metric of two methods over the same seeds (seed s of both methods
shares the data order and initialisation, so the runs pair); ``holm_corrected``: Holm's
correction over a table's family of such tests. Beside each test, the mean paired difference
with a 95 % interval two ways (``t_interval``: t over seeds; ``bootstrap_interval``: seeds
resampled in pairs, for few seeds where normality is a stretch), an equivalence test against a
smallest effect of interest of ±1 point (``tost_p_value``, two one-sided t-tests) and how many
seeds would give a ±1-point interval at the observed spread (``seeds_for_half_width``).

A test that cannot say anything (one seed, differences without spread) returns
a NaN p-value together with the reason, never a crash and never a fake 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from scipy.stats import ttest_rel

from autolora.reporting import tables

AUTOLORA_METHOD = "autolora"
ALPHA = 0.05
SIGNIFICANCE_MARKER = "*"
T_TEST = "paired t-test over seeds"
LEVEL = 0.95  # the intervals' coverage
# The smallest effect of interest: one point of the main metric ×100 (accuracy, Pearson, F1, BLEU), the
# size of the paper's gains over LoRA. A difference whose interval lies inside ±1 point is "equivalent".
EQUIVALENCE_MARGIN = 0.01
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
# Differences that are equal in exact arithmetic differ by rounding error in
# floats (0.7 - 0.6 != 0.8 - 0.7), which would give a huge, meaningless t; a
# spread below this fraction of the values' magnitude counts as none.
_RELATIVE_ROUNDING = 1e-9


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test; ``reason`` says why ``p_value`` is NaN ('' otherwise)."""

    test: str
    statistic: float
    p_value: float
    n: int
    reason: str = ""

    __test__ = False  # not a pytest test class, despite the name


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Two-sided paired t-test of a against b (scipy.stats.ttest_rel).

    statistic = mean(d) / (std(d, ddof=1) / sqrt(n)) with d = a - b. With
    fewer than two pairs, or differences that are all the same, the t
    statistic is undefined: the result then has NaN statistic and p-value and
    a ``reason``.
    """
    a, b = _paired_arrays(a, b)
    differences = a - b
    if len(differences) < 2:
        return TestResult(T_TEST, math.nan, math.nan, len(differences),
                          f"n={len(differences)} paired seeds; a t-test needs at least 2")
    if _has_no_spread(differences, scale=max(np.abs(a).max(), np.abs(b).max())):
        return TestResult(T_TEST, math.nan, math.nan, len(differences),
                          f"all {len(differences)} differences equal {differences[0]:.6g}, "
                          "so their variance is zero and t is undefined")
    outcome = ttest_rel(a, b)
    return TestResult(T_TEST, float(outcome.statistic), float(outcome.pvalue), len(differences))


def _paired_arrays(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of one length, got shapes "
                         f"{a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"paired values must be finite, got {a.tolist()} and {b.tolist()}")
    return a, b


def _has_no_spread(values: np.ndarray, scale: float) -> bool:
    return float(np.ptp(values)) <= _RELATIVE_ROUNDING * max(scale, 1.0)


def t_interval(differences: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """mean(d) ± t_{(1+level)/2, n-1} · sd(d) / √n; NaN bounds with fewer than two pairs."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return math.nan, math.nan
    half = student_t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def bootstrap_interval(differences: Sequence[float], level: float = LEVEL,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile interval of the mean paired difference over ``resamples`` draws of the seeds
    with replacement (a seed's two runs stay together); NaN bounds with fewer than two pairs.
    With n seeds there are only C(2n-1, n) distinct resamples, so for very few seeds it is
    narrower than the t interval: it is a check on the t interval's normality, not a substitute."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return math.nan, math.nan
    draws = np.random.default_rng(seed).integers(len(d), size=(resamples, len(d)))
    means = d[draws].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


# The main metrics a hierarchical bootstrap can recompute on resampled evaluation rows: each maps
# (predictions, labels, rows) → the metric on every resample, rows an index array (resamples × n).
def _accuracy(predictions: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return (predictions[rows] == labels[rows]).mean(axis=1)


def _pearson(predictions: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    x, y = predictions[rows], labels[rows]
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    return (x * y).sum(axis=1) / np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))


def _binary_counts(predictions, labels, rows):
    predicted, actual = predictions[rows] == 1, labels[rows] == 1
    return ((predicted & actual).sum(axis=1).astype(float), (predicted & ~actual).sum(axis=1).astype(float),
            (~predicted & actual).sum(axis=1).astype(float), (~predicted & ~actual).sum(axis=1).astype(float))


def _f1(predictions: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    tp, fp, fn, _ = _binary_counts(predictions, labels, rows)
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1)


def _matthews(predictions: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    tp, fp, fn, tn = _binary_counts(predictions, labels, rows)
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.where(denominator > 0, (tp * tn - fp * fn) / np.where(denominator > 0, denominator, 1), 0.0)


RESAMPLED_METRICS = {"accuracy": _accuracy, "pearson": _pearson, "f1": _f1, "matthews_correlation": _matthews}
HIERARCHICAL_RESAMPLES = 2_000  # each draws every seed's evaluation rows anew: 2,000 keep a table under a minute


def hierarchical_bootstrap_interval(seeds: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], metric: str,
                                    level: float = LEVEL, resamples: int = HIERARCHICAL_RESAMPLES,
                                    seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile interval of the mean paired difference when both the seeds and, within each
    drawn seed, the evaluation examples are resampled with replacement: ``seeds`` holds one
    (predictions of a, predictions of b, labels) per seed, and each resample draws n seeds, then
    for each the same rows for a and b (the comparison stays paired by example), recomputes the
    metric on them and averages the differences over the drawn seeds. It covers the variation from
    training seeds and the evaluation sample; NaN bounds with fewer than two seeds or a metric it
    cannot recompute (``RESAMPLED_METRICS``)."""
    if len(seeds) < 2 or metric not in RESAMPLED_METRICS:
        return math.nan, math.nan
    score = RESAMPLED_METRICS[metric]
    rng = np.random.default_rng(seed)
    drawn = rng.integers(len(seeds), size=(resamples, len(seeds)))
    totals = np.zeros(resamples)
    for slot in range(len(seeds)):
        for index in np.unique(drawn[:, slot]):
            which = np.flatnonzero(drawn[:, slot] == index)
            a, b, labels = (np.asarray(values, dtype=float) for values in seeds[index])
            rows = rng.integers(len(labels), size=(len(which), len(labels)))
            totals[which] += score(a, labels, rows) - score(b, labels, rows)
    means = totals / len(seeds)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def tost_p_value(differences: Sequence[float], margin: float = EQUIVALENCE_MARGIN) -> float:
    """Two one-sided t-tests of |mean difference| < margin: the larger of the p-values of
    H0: mean ≤ −margin and H0: mean ≥ +margin. Below 0.05 the difference is shown to lie within
    ±margin; NaN with fewer than two pairs or no spread."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2 or _has_no_spread(d, scale=float(np.abs(d).max())):
        return math.nan
    standard_error = d.std(ddof=1) / math.sqrt(len(d))
    lower = student_t.sf((d.mean() + margin) / standard_error, len(d) - 1)
    upper = student_t.cdf((d.mean() - margin) / standard_error, len(d) - 1)
    return float(max(lower, upper))


def seeds_for_half_width(differences: Sequence[float], half_width: float = EQUIVALENCE_MARGIN,
                         level: float = LEVEL, most: int = 10_000) -> int | None:
    """The fewest seeds n whose t interval, at the spread (sd) of these differences, has a
    half-width of at most ``half_width``: t_{n-1} · sd / √n ≤ half_width. None with fewer than
    two differences; 2 when they have no spread."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    spread = d.std(ddof=1)
    for n in range(2, most + 1):
        if student_t.ppf((1 + level) / 2, n - 1) * spread / math.sqrt(n) <= half_width:
            return n
    return most


def interval_summary(differences: Sequence[float]) -> dict:
    """The interval columns of one paired comparison (on the metric's own scale)."""
    t_low, t_high = t_interval(differences)
    boot_low, boot_high = bootstrap_interval(differences)
    return {"ci_low": t_low, "ci_high": t_high, "boot_low": boot_low, "boot_high": boot_high,
            "half_width": (t_high - t_low) / 2, "tost_p": tost_p_value(differences),
            "seeds_for_1pt": seeds_for_half_width(differences)}


@dataclass(frozen=True)
class Examples:
    """Per-example evaluation outputs of one task: its labels, and each (method, seed)'s
    predictions in the same order (``predictions.txt``), for the hierarchical bootstrap."""

    labels: np.ndarray
    predictions: Mapping[tuple[str, int], np.ndarray]

    def pairs(self, baseline: str, seeds: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(AutoLoRA's, the baseline's predictions, labels) per seed; empty where one is missing."""
        keys = [(method, seed) for seed in seeds for method in (AUTOLORA_METHOD, baseline)]
        if any(key not in self.predictions for key in keys):
            return []
        return [(self.predictions[AUTOLORA_METHOD, seed], self.predictions[baseline, seed], self.labels)
                for seed in seeds]


def compare_with_autolora(metric_records: Iterable[Mapping], task: str,
                          expected_seeds: Sequence[int], alpha: float = ALPHA,
                          examples: Examples | None = None) -> list[dict]:
    """Paired t-tests over seeds of every baseline's main metric against AutoLoRA's on ``task``.

    ``metric_records`` are evaluate's records (task, method, seed, metrics,
    main_metric, ...); those of other tasks are ignored. Every method must
    have exactly ``expected_seeds`` (a missing seed raises ValueError naming
    task, method and seed, so a failed run never silently shrinks n).

    Returns one dict per baseline, in record order: task, baseline,
    main_metric, autolora_mean, baseline_mean, mean_difference (AutoLoRA minus
    baseline, on the metric's own scale), its intervals (``interval_summary``: ci_low, ci_high,
    boot_low, boot_high, half_width, tost_p, seeds_for_1pt), the hierarchical bootstrap interval
    over seeds and evaluation examples where ``examples`` has every seed's predictions (hier_low,
    hier_high; NaN otherwise), test, statistic, p_value, n_seeds, significant (p < alpha; False when
    p is NaN; ``holm_corrected`` decides it again over the table's family) and reason (why p is NaN).
    """
    values = _main_metric_by_method(metric_records, task, expected_seeds)
    if AUTOLORA_METHOD not in values:
        raise ValueError(f"no {AUTOLORA_METHOD} metric records for task={task}; "
                         f"methods present: {sorted(values)}")
    main_metric, autolora = values.pop(AUTOLORA_METHOD)
    comparisons = []
    for baseline, (baseline_metric, scores) in values.items():
        if baseline_metric != main_metric:
            raise ValueError(f"task={task}: {baseline} reports main metric {baseline_metric!r}, "
                             f"{AUTOLORA_METHOD} {main_metric!r}")
        pairs = examples.pairs(baseline, expected_seeds) if examples is not None else []
        comparisons.append({**_comparison(task, baseline, main_metric, autolora, scores, alpha),
                            **_hierarchical(pairs, main_metric)})
    return comparisons


def _hierarchical(pairs: list, main_metric: str) -> dict:
    low, high = hierarchical_bootstrap_interval(pairs, main_metric)
    return {"hier_low": low, "hier_high": high}


def _main_metric_by_method(metric_records: Iterable[Mapping], task: str,
                           expected_seeds: Sequence[int]) -> dict[str, tuple[str, np.ndarray]]:
    """method -> (main metric name, its values ordered like ``expected_seeds``)."""
    records = [record for record in metric_records if record["task"] == task]
    if not records:
        raise ValueError(f"no metric records for task={task}")
    groups = tables.group_by_method_and_task(records, list(expected_seeds))
    by_method = {}
    for (method, _), group in groups.items():
        main_metric = tables.the_same_in_all(group, "main_metric", f"task={task} method={method}")
        by_method[method] = (main_metric, np.array([record["metrics"][main_metric]
                                                    for record in group], dtype=float))
    return by_method


def _comparison(task: str, baseline: str, main_metric: str, autolora: np.ndarray,
                scores: np.ndarray, alpha: float) -> dict:
    outcome = paired_t_test(autolora, scores)
    return {
        "task": task,
        "baseline": baseline,
        "main_metric": main_metric,
        "autolora_mean": float(autolora.mean()),
        "baseline_mean": float(scores.mean()),
        "mean_difference": float((autolora - scores).mean()),
        **interval_summary(autolora - scores),
        "test": outcome.test,
        "statistic": outcome.statistic,
        "p_value": outcome.p_value,
        "n_seeds": outcome.n,
        "significant": is_significant(outcome.p_value, alpha),
        "reason": outcome.reason,
    }


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (in their order).

    The i-th smallest of the m p-values becomes max over j ≤ i of min(1, (m − j + 1) p_(j)):
    p_adjusted < alpha exactly where Holm's procedure rejects at level alpha, which controls
    the family-wise error rate under any dependence between the tests. NaN p-values (no test
    possible) stay NaN and do not count in m.
    """
    p_values = [float(p) for p in p_values]
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[index] = running
    return adjusted


def holm_corrected(comparisons: Sequence[Mapping], alpha: float = ALPHA,
                   margin: float = EQUIVALENCE_MARGIN) -> list[dict]:
    """Copies of ``compare_with_autolora`` results, one table's family, with Holm's correction
    over all of them applied twice, as two families of tests: to the t-tests (``p_holm``) and to
    the equivalence tests (``tost_p_holm``). Each then gets its verdict (``verdict_of``), and
    ``significant`` and ``equivalent`` say which."""
    p_holm = holm_adjusted([comparison["p_value"] for comparison in comparisons])
    tost_holm = holm_adjusted([comparison["tost_p"] for comparison in comparisons])
    corrected = []
    for comparison, p, tost in zip(comparisons, p_holm, tost_holm):
        comparison = {**comparison, "p_holm": p, "tost_p_holm": tost}
        outcome = verdict_of(comparison, alpha, margin)
        corrected.append({**comparison, "verdict": outcome, "significant": outcome == DIFFERS,
                          "equivalent": outcome == EQUIVALENT})
    return corrected


DIFFERS, EQUIVALENT, INCONCLUSIVE = "differs", "equivalent", "inconclusive"


def widest_interval(comparison: Mapping) -> tuple[float, float]:
    """The union of a comparison's t interval and its hierarchical bootstrap interval (where it
    has one): what both the seeds and the evaluation sample leave open."""
    lows = [comparison["ci_low"], comparison.get("hier_low", math.nan)]
    highs = [comparison["ci_high"], comparison.get("hier_high", math.nan)]
    lows, highs = [low for low in lows if not math.isnan(low)], [high for high in highs if not math.isnan(high)]
    return (min(lows), max(highs)) if lows and highs else (math.nan, math.nan)


def verdict_of(comparison: Mapping, alpha: float = ALPHA, margin: float = EQUIVALENCE_MARGIN) -> str:
    """``differs``: the Holm-corrected t-test rejects and the widest interval excludes 0;
    ``equivalent``: the Holm-corrected equivalence test rejects and the widest interval lies
    inside ±margin; otherwise ``inconclusive``."""
    low, high = widest_interval(comparison)
    if math.isnan(low):
        return INCONCLUSIVE
    if is_significant(comparison["p_holm"], alpha) and not low <= 0 <= high:
        return DIFFERS
    if is_significant(comparison["tost_p_holm"], alpha) and -margin < low and high < margin:
        return EQUIVALENT
    return INCONCLUSIVE


def is_significant(p_value: float, alpha: float = ALPHA) -> bool:
    """p < alpha; a NaN p-value (no test possible) is never significant."""
    return not math.isnan(p_value) and p_value < alpha


def mark_significant(cell: str, significant: bool, marker: str = SIGNIFICANCE_MARKER) -> str:
    """Append ``marker`` to a formatted table cell when the comparison is significant."""
    return cell + marker if significant else cell


def mark_significant_cells(table: pd.DataFrame, comparisons: Iterable[Mapping],
                           alpha: float = ALPHA, marker: str = SIGNIFICANCE_MARKER) -> pd.DataFrame:
    """Copy of a ``tables.family_table`` table with ``marker`` on every baseline
    cell that differs significantly from AutoLoRA, and a note saying so.

    A comparison whose baseline row or task column is not in the table raises
    ValueError naming them (a marker must never be lost on the way).
    """
    comparisons = list(comparisons)
    marked = table.copy()
    for comparison in comparisons:
        if comparison["baseline"] not in marked.index:
            raise ValueError(f"no row for baseline {comparison['baseline']!r} in the table; "
                             f"rows: {list(marked.index)}")
        column = _column_of_task(marked, comparison["task"])
        cell = marked.at[comparison["baseline"], column]
        marked.at[comparison["baseline"], column] = mark_significant(
            cell, comparison["significant"], marker)
    corrected = comparisons and all("p_holm" in comparison for comparison in comparisons)
    how = (f", Holm-corrected over the table's {len(comparisons)} comparisons" if corrected else "")
    marked.attrs["notes"] = list(table.attrs.get("notes", [])) + [
        f"{marker}: differs from {AUTOLORA_METHOD} at p < {alpha} ({T_TEST}, two-sided{how})."]
    marked.attrs["significance"] = [dict(comparison) for comparison in comparisons]
    marked.attrs["tidy"] = _with_p_values(table.attrs.get("tidy", []), comparisons)
    return marked


def _with_p_values(tidy: list[Mapping], comparisons: list[Mapping]) -> list[dict]:
    """The tidy rows (the CSV) with each baseline's test against AutoLoRA on its task."""
    fields = ("mean_difference", "ci_low", "ci_high", "boot_low", "boot_high", "tost_p", "p_value", "p_holm",
              "significant")
    tests = {(comparison["baseline"], comparison["task"]): comparison for comparison in comparisons}
    rows = []
    for row in tidy:
        test = tests.get((row["method"], row["task"]), {})
        rows.append({**row, **{field: test.get(field, math.nan) for field in fields}})
    return rows


def _column_of_task(table: pd.DataFrame, task: str) -> str:
    """The shared table's column for ``task``: its label, perhaps with the held-out dagger."""
    label = tables.task_label(task)
    for column in table.columns:
        if column in (label, label + tables.DAGGER):
            return column
    raise ValueError(f"no column for task={task} ({label!r}) in the table; "
                     f"columns: {list(table.columns)}")

