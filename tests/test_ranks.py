import math

import pytest
import torch

from autolora.ranks import extract_rank, extract_ranks, selection_weights


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
