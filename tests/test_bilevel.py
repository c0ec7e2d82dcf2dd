"""The finite-difference and first-order hypergradients against autograd through the unroll."""

import pytest
import torch

from autolora.bilevel import BilevelSearch
from autolora.model import inject_selection_lora, lower_level_parameters, selection_parameters
from tests.conftest import random_batch, selection_lora_bert


def make_search(tiny_bert, mode, unroll_lr=0.5, inner_lr_factor=True):
    model = selection_lora_bert(tiny_bert)  # the three modes must see the same function
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    opt_w = torch.optim.SGD(lower.values(), lr=0.0)
    opt_a = torch.optim.SGD(upper.values(), lr=0.0)
    return BilevelSearch(model, lower, upper, opt_w, opt_a, mode, unroll_lr, inner_lr_factor)


def hypergradient(tiny_bert, mode, **kwargs):
    grads, _, _ = make_search(tiny_bert, mode, **kwargs).hypergradient(random_batch(0), random_batch(1))
    return torch.cat([g.flatten() for g in grads])


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_second_order_matches_exact(tiny_bert):
    exact = hypergradient(tiny_bert, "exact")
    second = hypergradient(tiny_bert, "second_order")
    first = hypergradient(tiny_bert, "first_order")
    # The second-order term must matter here, or the comparison would prove nothing.
    assert relative_error(first, exact) > 0.05
    assert relative_error(second, exact) < 1e-3


def test_first_order_is_the_validation_gradient_without_unroll(tiny_bert):
    search = make_search(tiny_bert, "first_order")
    grads, _, _ = search.hypergradient(random_batch(0), random_batch(1))
    expected = torch.autograd.grad(search.loss(random_batch(1)), list(search.upper.values()))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want)


def test_official_form_drops_the_learning_rate_from_the_correction(tiny_bert):
    lr = 0.5
    search = make_search(tiny_bert, "second_order", unroll_lr=lr)
    train, val = random_batch(0), random_batch(1)
    # The direct term ∇_α L_val(w', α) at the unrolled weights, computed by hand.
    grad_w = torch.autograd.grad(search.loss(train), list(search.lower.values()))
    unrolled = {n: (p - lr * g).detach() for (n, p), g in zip(search.lower.items(), grad_w)}
    direct = torch.cat([g.flatten() for g in torch.autograd.grad(search.loss(val, unrolled), list(search.upper.values()))])
    textbook = hypergradient(tiny_bert, "second_order", unroll_lr=lr, inner_lr_factor=True)
    official = hypergradient(tiny_bert, "second_order", unroll_lr=lr, inner_lr_factor=False)
    torch.testing.assert_close(official - direct, (textbook - direct) / lr)


def test_step_updates_both_levels(tiny_bert):
    model = tiny_bert()
    inject_selection_lora(model, max_rank=4, lora_alpha=8)
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    search = BilevelSearch(
        model, lower, upper,
        torch.optim.Adam(lower.values(), lr=1e-2), torch.optim.Adam(upper.values(), lr=1e-2),
        "second_order", unroll_lr=1e-2,
    )
    before_a = {n: p.detach().clone() for n, p in upper.items()}
    before_b = {n: p.detach().clone() for n, p in lower.items() if n.endswith("lora_B")}
    losses = search.step(random_batch(0), random_batch(1))
    assert all(torch.isfinite(torch.tensor([losses.train, losses.val])))
    assert all(not torch.equal(before_a[n], upper[n]) for n in upper)
    assert all(not torch.equal(before_b[n], lower[n]) for n in before_b)


def test_unknown_mode_is_rejected(tiny_bert):
    with pytest.raises(ValueError, match="hypergradient mode"):
        make_search(tiny_bert, "third_order")
