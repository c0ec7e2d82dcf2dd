"""Tests for autolora.reporting.stats: the paired t-test against its formula, the bootstrap's
determinism and extremes, the comparisons with AutoLoRA and the table markers."""

import math

import numpy as np
import pandas as pd
import pytest

from autolora.reporting import stats, tables
from tests.test_report import SEEDS, metric_record

AUTOLORA_RTE = [0.70, 0.72, 0.74]
LORA_RTE = [0.60, 0.65, 0.70]
ADALORA_RTE = [0.50, 0.51, 0.52]


def two_sided_p_with_two_degrees_of_freedom(t):
    """Student's t with df=2 has the closed form P(|T| > t) = 1 - t / sqrt(2 + t^2)."""
    return 1 - abs(t) / math.sqrt(2 + t * t)


# ---------------------------------------------------------------- paired t-test

def test_t_statistic_and_p_value_match_the_formula():
    # d = (0.10, 0.07, 0.04): mean 0.07, std (ddof=1) 0.03, t = 0.07 / (0.03 / sqrt(3))
    outcome = stats.paired_t_test(AUTOLORA_RTE, LORA_RTE)
    t = 0.07 / (0.03 / math.sqrt(3))
    assert outcome.statistic == pytest.approx(t)
    assert outcome.p_value == pytest.approx(two_sided_p_with_two_degrees_of_freedom(t))
    assert outcome.n == 3 and outcome.reason == ""


def test_a_single_seed_gives_nan_with_a_reason():
    outcome = stats.paired_t_test([0.7], [0.6])
    assert math.isnan(outcome.p_value) and math.isnan(outcome.statistic)
    assert "at least 2" in outcome.reason


@pytest.mark.parametrize("a, b", [([0.7, 0.8, 0.9], [0.6, 0.7, 0.8]),  # equal up to rounding
                                  ([0.7, 0.8, 0.9], [0.7, 0.8, 0.9])])  # identical
def test_differences_without_spread_give_nan_with_a_reason(a, b):
    outcome = stats.paired_t_test(a, b)
    assert math.isnan(outcome.p_value)
    assert "variance is zero" in outcome.reason


def test_unpaired_or_non_finite_values_raise():
    with pytest.raises(ValueError, match="one length"):
        stats.paired_t_test([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="finite"):
        stats.paired_t_test([0.1, math.nan], [0.1, 0.2])


# ---------------------------------------------------------------- paired bootstrap

def correctness(seed, accuracy, n=300):
    return np.random.default_rng(seed).random(n) < accuracy


# ---------------------------------------------------------------- comparisons with AutoLoRA

def rte_records():
    scores = {"autolora": AUTOLORA_RTE, "lora": LORA_RTE, "adalora": ADALORA_RTE}
    records = [metric_record("rte", method, seed, {"accuracy": value}, "accuracy")
               for method, values in scores.items() for seed, value in zip(SEEDS, values)]
    other_task = [metric_record("mrpc", "lora", seed, {"accuracy": 0.8}, "accuracy") for seed in SEEDS]
    return records + other_task


def test_comparisons_give_difference_p_value_and_flag_per_baseline():
    lora, adalora = stats.compare_with_autolora(rte_records(), "rte", SEEDS)
    assert lora["baseline"] == "lora" and adalora["baseline"] == "adalora"
    assert lora["mean_difference"] == pytest.approx(0.07)
    assert lora["p_value"] == pytest.approx(
        two_sided_p_with_two_degrees_of_freedom(0.07 / (0.03 / math.sqrt(3))))
    assert lora["n_seeds"] == 3 and lora["test"] == stats.T_TEST
    assert not lora["significant"]  # p = 0.056
    # adalora: d = (0.20, 0.21, 0.22), t = 0.21 / (0.01 / sqrt(3)) = 36.4, p = 0.00075
    assert adalora["significant"] and adalora["p_value"] < 0.001


def test_a_missing_seed_raises_naming_method_task_seed():
    records = [r for r in rte_records() if not (r["method"] == "lora" and r["seed"] == 1)]
    with pytest.raises(ValueError, match="task=rte method=lora seed=1"):
        stats.compare_with_autolora(records, "rte", SEEDS)


def test_comparisons_without_autolora_raise():
    records = [r for r in rte_records() if r["method"] != "autolora"]
    with pytest.raises(ValueError, match="no autolora metric records for task=rte"):
        stats.compare_with_autolora(records, "rte", SEEDS)


def test_nan_p_value_is_not_significant():
    assert not stats.is_significant(math.nan)
    assert stats.is_significant(0.01) and not stats.is_significant(0.05)


def test_holm_adjusts_step_down_keeps_order_and_leaves_untested_alone():
    # Sorted 0.01, 0.02, 0.04 of m = 3: 3·0.01, max(0.03, 2·0.02), max(0.04, 1·0.04).
    assert stats.holm_adjusted([0.04, 0.01, math.nan, 0.02]) == pytest.approx([0.04, 0.03, math.nan, 0.04],
                                                                               nan_ok=True)
    assert stats.holm_adjusted([0.5, 0.9]) == [1.0, 1.0]  # capped at 1, never decreasing
    assert stats.holm_adjusted([]) == []


def comparison_of(p_value, tost_p=0.5, interval=(0.02, 0.04), hierarchical=(math.nan, math.nan)):
    """A comparison as compare_with_autolora returns it, reduced to what Holm and the verdict read."""
    return {"p_value": p_value, "tost_p": tost_p, "ci_low": interval[0], "ci_high": interval[1],
            "hier_low": hierarchical[0], "hier_high": hierarchical[1]}


def test_holm_correction_decides_significance_over_the_whole_family():
    corrected = stats.holm_corrected([comparison_of(0.02), comparison_of(0.03), comparison_of(0.5)])
    assert [c["p_holm"] for c in corrected] == pytest.approx([0.06, 0.06, 0.5])
    assert not any(c["significant"] for c in corrected)  # each p < 0.05 alone, not after Holm
    assert stats.holm_corrected([comparison_of(0.001), comparison_of(0.03)])[0]["significant"]


def test_holm_corrects_the_equivalence_tests_as_a_family_of_their_own():
    # TOST p 0.01, 0.04, 0.03 of m = 3: 3·0.01, max(0.03, 2·0.03), max(0.06, 1·0.04).
    inside = (-0.005, 0.005)
    corrected = stats.holm_corrected([comparison_of(0.9, tost, inside) for tost in (0.01, 0.04, 0.03)])
    assert [c["tost_p_holm"] for c in corrected] == pytest.approx([0.03, 0.06, 0.06])
    assert [c["verdict"] for c in corrected] == ["equivalent", "inconclusive", "inconclusive"]
    assert [c["equivalent"] for c in corrected] == [True, False, False]


@pytest.mark.parametrize(("case", "verdict"), [
    (comparison_of(0.001, interval=(0.02, 0.04)), "differs"),
    # The t-test rejects, but the evaluation sample leaves 0 open: not a difference.
    (comparison_of(0.001, interval=(0.02, 0.04), hierarchical=(-0.001, 0.05)), "inconclusive"),
    (comparison_of(0.9, tost_p=0.001, interval=(-0.004, 0.004)), "equivalent"),
    # TOST rejects over seeds, but over seeds × examples the interval leaves ±1 point.
    (comparison_of(0.9, tost_p=0.001, interval=(-0.004, 0.004), hierarchical=(-0.012, 0.006)), "inconclusive"),
    (comparison_of(math.nan, tost_p=math.nan, interval=(math.nan, math.nan)), "inconclusive"),
])
def test_a_verdict_needs_its_corrected_test_and_the_widest_interval(case, verdict):
    (corrected,) = stats.holm_corrected([case])
    assert corrected["verdict"] == verdict
    assert corrected["significant"] == (verdict == "differs")


# ---------------------------------------------------------------- table markers

def test_mark_significant_appends_the_marker_only_when_significant():
    assert stats.mark_significant("65.0 ± 5.0", True) == "65.0 ± 5.0*"
    assert stats.mark_significant("65.0 ± 5.0", False) == "65.0 ± 5.0"


def test_significant_cells_of_the_glue_table_are_marked(tmp_path):
    records = [r for r in rte_records() if r["task"] == "rte"]
    table = tables.family_table(records, "glue", {}, SEEDS)
    marked = stats.mark_significant_cells(table, stats.compare_with_autolora(records, "rte", SEEDS))
    assert marked.loc["adalora", "RTE"] == table.loc["adalora", "RTE"] + "*"
    assert marked.loc["lora", "RTE"] == table.loc["lora", "RTE"]
    assert table.loc["adalora", "RTE"].endswith("*") is False  # the input is left alone
    assert "differs from autolora at p < 0.05" in marked.attrs["notes"][-1]
    tables.write_table(marked, tmp_path / "glue", "GLUE")
    tidy = pd.read_csv(tmp_path / "glue.csv").set_index("method")
    assert tidy.at["adalora", "p_value"] < 0.001 and tidy.at["adalora", "significant"]
    assert np.isnan(tidy.at["autolora", "p_value"])  # AutoLoRA is what the others are tested against
    assert "| 51.0 ± 1.0* |" in (tmp_path / "glue.md").read_text()
    assert r"51.0 $\pm$ 1.0* &" in (tmp_path / "glue.tex").read_text()


def test_the_note_names_the_holm_correction_when_the_p_values_have_it():
    records = [r for r in rte_records() if r["task"] == "rte"]
    table = tables.family_table(records, "glue", {}, SEEDS)
    corrected = stats.holm_corrected(stats.compare_with_autolora(records, "rte", SEEDS))
    marked = stats.mark_significant_cells(table, corrected)
    assert "Holm-corrected over the table's 2 comparisons" in marked.attrs["notes"][-1]
    assert marked.loc["adalora", "RTE"].endswith("*")  # p = 0.00075, 0.0015 after Holm


def test_marking_a_task_missing_from_the_table_raises():
    records = [r for r in rte_records() if r["task"] == "rte"]
    table = tables.family_table(records, "glue", {}, SEEDS)
    comparison = dict(stats.compare_with_autolora(records, "rte", SEEDS)[0], task="mrpc")
    with pytest.raises(ValueError, match="no column for task=mrpc"):
        stats.mark_significant_cells(table, [comparison])


# ---------------------------------------------------------------- intervals and equivalence

def test_t_interval_against_a_hand_case():
    # d = (1, 2, 3): mean 2, sd 1, t(0.975, 2) = 4.302653, half-width 4.302653 / sqrt(3) = 2.484138
    low, high = stats.t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert all(math.isnan(bound) for bound in stats.t_interval([0.5]))


def test_bootstrap_interval_is_seeded_lies_within_the_data_and_collapses_without_spread():
    d = [0.01, -0.02, 0.03, 0.0, 0.015]
    low, high = stats.bootstrap_interval(d)
    assert (low, high) == stats.bootstrap_interval(d)  # seeded
    assert min(d) <= low < np.mean(d) < high <= max(d)
    assert stats.bootstrap_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    # Two seeds: the resampled means can only be d1, d2 or their mean.
    assert stats.bootstrap_interval([0.0, 1.0]) == pytest.approx((0.0, 1.0))


def test_tost_against_a_hand_case():
    # d = (1, 2, 3), margin 5: se = 1 / sqrt(3); p = max(P(T > 7 sqrt(3)), P(T < -3 sqrt(3))), df = 2.
    # P(T > t) for df = 2 is (1 - t / sqrt(2 + t^2)) / 2.
    def upper_tail(t):
        return (1 - t / math.sqrt(2 + t * t)) / 2

    expected = max(upper_tail(7 * math.sqrt(3)), upper_tail(3 * math.sqrt(3)))
    assert stats.tost_p_value([1.0, 2.0, 3.0], margin=5.0) == pytest.approx(expected)
    # Tight differences near zero are equivalent within ±1 point; a 3-point gap is not.
    assert stats.tost_p_value([0.001, -0.002, 0.0, 0.001, 0.0]) < 0.05
    assert stats.tost_p_value([0.03, 0.031, 0.029]) > 0.5
    assert math.isnan(stats.tost_p_value([0.01]))


def test_seeds_for_half_width_against_a_hand_case():
    # sd 1: n = 7 gives t(0.975, 6) / sqrt(7) = 2.446912 / 2.645751 = 0.9248 <= 1; n = 6 gives 1.0494.
    assert stats.seeds_for_half_width([1.0, 2.0, 3.0], half_width=1.0) == 7
    assert stats.seeds_for_half_width([0.5, 0.5], half_width=0.1) == 2  # no spread
    assert stats.seeds_for_half_width([0.5]) is None


def test_comparisons_carry_their_intervals():
    lora = stats.compare_with_autolora(rte_records(), "rte", SEEDS)[0]
    # d = (0.10, 0.07, 0.04): mean 0.07, sd 0.03
    half = 4.302653 * 0.03 / math.sqrt(3)
    assert (lora["ci_low"], lora["ci_high"]) == pytest.approx((0.07 - half, 0.07 + half), abs=1e-6)
    assert lora["half_width"] == pytest.approx(half, abs=1e-6)
    assert lora["boot_low"] >= 0.04 and lora["boot_high"] <= 0.10
    assert lora["tost_p"] > 0.05
    assert math.isnan(lora["hier_low"])  # no per-example predictions given


# ---------------------------------------------------------------- hierarchical bootstrap

@pytest.mark.parametrize("metric", sorted(stats.RESAMPLED_METRICS))
def test_each_resampled_metric_is_the_scorer_on_every_resample(metric):
    from autolora.metrics import glue_metrics

    rng = np.random.default_rng(3)
    labels = rng.integers(2, size=40).astype(float)
    predictions = rng.normal(size=40) + labels if metric == "pearson" else rng.integers(2, size=40).astype(float)
    rows = rng.integers(40, size=(5, 40))
    task = {"accuracy": "sst2", "pearson": "stsb", "f1": "mrpc", "matthews_correlation": "cola"}[metric]
    expected = [glue_metrics(task, predictions[row], labels[row])[metric] for row in rows]
    assert stats.RESAMPLED_METRICS[metric](predictions, labels, rows) == pytest.approx(expected)


def test_the_hierarchical_bootstrap_against_hand_cases():
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    right, wrong = labels.copy(), 1 - labels
    # Always right against always wrong: every resample differs by 1, the interval is the point.
    assert stats.hierarchical_bootstrap_interval([(right, wrong, labels)] * 3, "accuracy") == (1.0, 1.0)
    # Identical predictions: no difference on any resample.
    assert stats.hierarchical_bootstrap_interval([(right, right, labels)] * 3, "accuracy") == (0.0, 0.0)
    # Fewer than two seeds, or a metric it cannot recompute: no interval.
    assert all(math.isnan(bound) for bound in stats.hierarchical_bootstrap_interval([(right, wrong, labels)], "accuracy"))
    assert all(math.isnan(bound) for bound in stats.hierarchical_bootstrap_interval([(right, wrong, labels)] * 2, "BLEU"))


def test_the_evaluation_sample_widens_an_interval_the_seeds_alone_leave_at_a_point():
    """Every seed's difference is the same (+0.1 accuracy: a is right on 10 more of 100 examples),
    so intervals over seeds have no width; resampling the examples as well gives the width the
    evaluation sample leaves: about ±1.96 · sd of a paired difference of proportions."""
    labels = np.ones(100)
    a = np.r_[np.ones(60), np.zeros(40)]
    b = np.r_[np.ones(50), np.zeros(50)]
    seeds = [(a, b, labels)] * 5
    assert stats.bootstrap_interval([0.1] * 5) == (pytest.approx(0.1), pytest.approx(0.1))
    low, high = stats.hierarchical_bootstrap_interval(seeds, "accuracy", resamples=4000)
    # Per seed the difference is the mean of 100 draws of +1 (10 %) or 0; averaged over 5 seeds.
    half = 1.96 * math.sqrt(0.1 * 0.9 / 100 / 5)
    assert low == pytest.approx(0.1 - half, abs=0.01) and high == pytest.approx(0.1 + half, abs=0.01)
    assert stats.hierarchical_bootstrap_interval(seeds, "accuracy", resamples=500) == \
        stats.hierarchical_bootstrap_interval(seeds, "accuracy", resamples=500)  # seeded


def test_comparisons_with_examples_carry_the_hierarchical_interval():
    examples = stats.Examples(np.array([1.0, 0.0, 1.0]), {
        (method, seed): np.array([1.0, 0.0, 1.0]) for method in ("autolora", "lora") for seed in SEEDS})
    comparisons = stats.compare_with_autolora(rte_records(), "rte", SEEDS, examples=examples)
    assert (comparisons[0]["hier_low"], comparisons[0]["hier_high"]) == (0.0, 0.0)
    missing = stats.Examples(examples.labels, {key: value for key, value in examples.predictions.items()
                                               if key != ("lora", SEEDS[0])})
    assert math.isnan(stats.compare_with_autolora(rte_records(), "rte", SEEDS, examples=missing)[0]["hier_low"])
