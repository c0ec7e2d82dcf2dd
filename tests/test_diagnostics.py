"""Rank diagnostics on hand-made searches whose answers are known."""

import math

import numpy as np
import pytest

from autolora.reporting import diagnostics

K, LAYERS = 8, 12


def module(layer, matrix):
    return f"bert.encoder.layer.{layer}.attention.self.{'query' if matrix == 'q' else 'value'}"


def weights_of_rank(rank):
    """softmax-like weights with exactly ``rank`` entries ≥ 1/k."""
    high, low = 1.5 / K, None
    low = (1 - rank * high) / (K - rank) if rank < K else None
    return [high] * rank + [low] * (K - rank) if rank < K else [1 / K] * K


def search(task, seed, ranks, history=None):
    modules = [module(layer, matrix) for layer in range(LAYERS) for matrix in "qv"]
    weights = {m: weights_of_rank(r) for m, r in zip(modules, ranks)}
    trajectory = history or {m: [w] * 8 for m, w in weights.items()}
    return {"task": task, "seed": seed, "k": K, "weights": weights, "steps": 8,
            "trajectory": {"step": list(range(8)), "weights": trajectory}}


RANKS = [1 + (i * 5) % K for i in range(2 * LAYERS)]  # varied over the 24 matrices


def test_uniform_alpha_has_entropy_one_and_one_hot_zero():
    assert diagnostics.normalised_entropy([1 / K] * K) == pytest.approx(1.0)
    assert diagnostics.normalised_entropy([1.0] + [0.0] * (K - 1)) == pytest.approx(0.0, abs=1e-9)


def test_identical_seeds_agree_perfectly_and_significantly():
    result = diagnostics.task_diagnostics([search("rte", seed, RANKS) for seed in range(3)])
    assert result["agreement"] == pytest.approx(1.0)
    assert result["agreement_p"] < 0.01
    assert abs(result["agreement_chance"]) < 0.1
    assert result["total_rank"] == [sum(RANKS)] * 3
    assert result["stable_share"] == 1.0


def test_seeds_with_permuted_matrices_sit_at_chance():
    """Each seed a random permutation of the same ranks: the statistic should look like its null,
    so over 20 such runs the agreement averages near chance and p < 0.05 stays rare."""
    agreements, p_values = [], []
    for draw in range(20):
        generator = np.random.default_rng(100 + draw)
        vectors = [list(generator.permutation(RANKS)) for _ in range(5)]
        agreement, chance, p_value = diagnostics.permutation_test(vectors, permutations=300)
        agreements.append(agreement - chance)
        p_values.append(p_value)
    assert abs(np.mean(agreements)) < 0.05
    assert np.mean(np.array(p_values) < 0.05) <= 0.2


def test_equal_ranks_everywhere_have_no_defined_agreement():
    result = diagnostics.task_diagnostics([search("rte", seed, [4] * (2 * LAYERS)) for seed in range(2)])
    assert math.isnan(result["agreement"]) and math.isnan(result["agreement_p"])


def test_a_rank_that_flips_late_is_not_stable():
    record = search("rte", 0, RANKS)
    flipping = module(0, "q")
    record["trajectory"]["weights"][flipping] = [weights_of_rank(1)] * 7 + [weights_of_rank(5)]
    assert diagnostics.stable_share(record) == pytest.approx(1 - 1 / (2 * LAYERS))


def test_structure_q_against_v_and_depth():
    ranks = [layer % K + 1 if matrix == "q" else 1 for layer in range(LAYERS) for matrix in "qv"]
    result = diagnostics.task_diagnostics([search("rte", seed, ranks) for seed in range(2)])
    assert result["rank_q_minus_v"] > 0 and result["rank_depth_spearman"] > 0


def test_the_table_has_a_row_per_task_and_search_and_notes():
    searches = {(task, "autolora"): [search(task, seed, RANKS) for seed in range(2)] for task in ("rte", "stsb")}
    shuffled = [RANKS, RANKS[::-1]]
    searches["rte", "search_long"] = [search("rte", seed, shuffled[seed]) for seed in range(2)]
    table = diagnostics.rank_stability_table(searches, {"long": {"search": {"epochs": 8, "alpha_lr": 0.05}}})
    assert list(table.index) == ["RTE", "STS-B", "RTE"]
    assert list(table["search"]) == ["autolora", "autolora", "search_long"]
    assert table.iloc[0]["seed agreement (chance)"].startswith("+1.00")
    assert not table.iloc[2]["seed agreement (chance)"].startswith("+1.00")
    assert list(table["steps"]) == [8, 8, 8]
    assert len(table.attrs["tidy"]) == 3
    assert "search_long: AutoLoRA with search.epochs = 8, search.alpha_lr = 0.05." in table.attrs["notes"]


def test_the_stopping_rule_replayed_on_a_trajectory():
    record = search("rte", 0, RANKS)
    history = {m: [weights_of_rank(1)] * 3 + [weights_of_rank(2)] * 3 + [w[0]] * 2
               for m, w in record["trajectory"]["weights"].items()}
    record["trajectory"]["weights"] = history
    # Every rank unchanged over 2 logged steps first at entry 2 (ranks 1), which is not final.
    steps, same = diagnostics.stopping_rule_effect(record, last=2)
    assert steps == pytest.approx(3 / 8)
    assert same == pytest.approx(np.mean([rank == 1 for rank in RANKS]))
    assert diagnostics.stopping_rule_effect(record, last=7) == (1.0, 1.0)  # never fires
