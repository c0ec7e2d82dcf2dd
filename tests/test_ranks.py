import math

import numpy as np
import pytest
import torch

from autolora.core.ranks import extract_rank, extract_ranks, selection_weights


def test_uniform_alpha_keeps_every_component():
    assert extract_rank([1.0] * 8, 1 / 8) == 8
    assert extract_rank([0.0] * 8, 1 / 8) == 8


def test_softmax_threshold_counts_components_at_or_above_lambda():
    # softmax of log-weights gives the weights back: 0.4, 0.3, 0.125, 0.1, 0.075 (k = 5)
    weights = [0.4, 0.3, 0.125, 0.1, 0.075]
    alpha = [math.log(w) for w in weights]
    assert extract_rank(alpha, 0.2) == 2  # 1/k = 0.2
    assert extract_rank(alpha, 0.125) == 3  # equality counts
    assert extract_rank(alpha, 0.41) == 0


def test_normalized_form_uses_raw_alpha_ratios():
    alpha = [3.0, 1.0, 0.5, 0.5]  # α/Σα = 0.6, 0.2, 0.1, 0.1
    assert extract_rank(alpha, 0.25, form="normalized") == 1
    assert extract_rank(alpha, 0.2, form="normalized") == 2
    # the softmax form of the same α differs, which is why the form is a switch
    assert extract_rank(alpha, 0.25, form="softmax") == 1
    assert torch.allclose(selection_weights(alpha, "normalized").sum(), torch.tensor(1.0, dtype=torch.float64))


def test_extract_ranks_keeps_module_order():
    ranks = extract_ranks({"l1.value": [5.0, 0, 0, 0], "l0.query": [1.0] * 4}, 0.25)
    assert list(ranks.items()) == [("l1.value", 1), ("l0.query", 4)]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_threshold_outside_unit_interval_is_rejected(threshold):
    with pytest.raises(ValueError, match="threshold"):
        extract_rank([1.0, 1.0], threshold)


def test_unknown_form_and_zero_sum_are_rejected():
    with pytest.raises(ValueError, match="ranks.form"):
        extract_rank([1.0, 1.0], 0.5, form="sparsemax")
    with pytest.raises(ValueError, match="Σα = 0"):
        extract_rank([0.0, 0.0], 0.5, form="normalized")


# ---- equal-budget controls (lora_budget, random_ranks)

def autolora_ranks(ranks, k=8):
    return {"task": "rte", "seed": 0, "k": k, "ranks": ranks, "total_rank": sum(ranks.values())}


CONTROL_INPUT = autolora_ranks({f"m{i}": r for i, r in enumerate([1, 8, 3, 5, 2, 7, 4, 6, 2, 3, 5, 1])})


def test_the_uniform_control_spreads_the_exact_total_evenly():
    from autolora.stages.ranks import uniform_budget_ranks

    record = uniform_budget_ranks(CONTROL_INPUT, seed=0)
    ranks = list(record["ranks"].values())
    assert record["total_rank"] == CONTROL_INPUT["total_rank"] == 47
    assert sorted(ranks) == [3] + [4] * 11  # 47 = 12 * 3 + 11: eleven matrices get one more
    assert list(record["ranks"]) == list(CONTROL_INPUT["ranks"])
    assert uniform_budget_ranks(CONTROL_INPUT, seed=0) == record  # seeded


def test_the_uniform_controls_leftover_ranks_have_no_depth_or_type_preference():
    """Over many seeds every matrix gets the extra rank equally often: the first in model order
    (the lowest layers' query matrices) no more than the last."""
    from autolora.stages.ranks import uniform_budget_ranks

    modules = [f"layer.{layer}.{matrix}" for layer in range(6) for matrix in ("query", "value")]
    budget = autolora_ranks({module: 2 for module in modules})
    budget["total_rank"] = 2 * 12 + 3  # three leftover ranks over twelve matrices
    seeds = 2000
    extra = np.zeros(12)
    for seed in range(seeds):
        extra += np.array(list(uniform_budget_ranks(budget, seed)["ranks"].values())) - 2
    share = extra / seeds  # expected 3 / 12 = 0.25 for every matrix
    assert np.abs(share - 0.25).max() < 0.05, share
    first_half, second_half = share[:6].sum(), share[6:].sum()
    assert abs(first_half - second_half) < 0.1


def test_the_random_control_has_the_exact_total_every_rank_in_range_and_its_seed():
    from autolora.stages.ranks import random_budget_ranks

    draws = {seed: random_budget_ranks(CONTROL_INPUT, seed)["ranks"] for seed in range(4)}
    for ranks in draws.values():
        assert sum(ranks.values()) == 47 and all(1 <= r <= 8 for r in ranks.values())
    assert random_budget_ranks(CONTROL_INPUT, 2)["ranks"] == draws[2]  # seeded
    assert len({tuple(ranks.values()) for ranks in draws.values()}) == 4  # different seeds differ


def test_the_extreme_budgets_are_met_and_impossible_ones_refused():
    from autolora.stages.ranks import random_budget_ranks, uniform_budget_ranks

    for total in (12, 96):  # every matrix at 1, every matrix at k
        record = autolora_ranks({f"m{i}": total // 12 for i in range(12)})
        assert random_budget_ranks(record, 0)["ranks"] == uniform_budget_ranks(record, 0)["ranks"] == record["ranks"]
    with pytest.raises(ValueError, match="cannot give each of 12 matrices a rank in 1..8"):
        uniform_budget_ranks({**autolora_ranks({f"m{i}": 8 for i in range(12)}), "total_rank": 97}, 0)


def test_ranks_unchanged_over_the_last_logged_steps():
    from autolora.core.ranks import ranks_unchanged

    wide, narrow = [1 / 4] * 4, [0.4, 0.4, 0.1, 0.1]  # ranks 4 and 2
    trajectory = {"weights": {"q": [narrow, wide, wide, wide], "v": [wide, wide, wide, wide]}}
    assert ranks_unchanged(trajectory, 2)  # the last three entries agree
    assert not ranks_unchanged(trajectory, 3)  # the first one differs
    assert not ranks_unchanged(trajectory, 4)  # fewer entries than asked for
