"""The finite-difference and first-order hypergradients against autograd through the unroll."""

import copy

import pytest
import torch
from torch.func import functional_call

from autolora.core import AutoLoraConfig
from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_parameters
from tests.conftest import random_batch, selection_lora_bert


def make_search(tiny_bert, mode, lr=0.5, inner_lr_factor=True, **options):
    model = selection_lora_bert(tiny_bert)  # the three modes must see the same function
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    opt_w = torch.optim.SGD(lower.values(), lr=0.0)
    opt_a = torch.optim.SGD(upper.values(), lr=0.0)
    return BilevelSearch(model, lower, upper, opt_w, opt_a,
                         SearchSettings(hypergradient=mode, lr=lr, inner_lr_factor=inner_lr_factor, **options))


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
    search = make_search(tiny_bert, "second_order", lr=lr)
    train, val = random_batch(0), random_batch(1)
    # The direct term ∇_α L_val(w', α) at the unrolled weights, computed by hand.
    grad_w = torch.autograd.grad(search.loss(train), list(search.lower.values()))
    unrolled = {n: (p - lr * g).detach() for (n, p), g in zip(search.lower.items(), grad_w)}
    direct = torch.cat([g.flatten() for g in torch.autograd.grad(search.loss(val, unrolled), list(search.upper.values()))])
    textbook = hypergradient(tiny_bert, "second_order", lr=lr, inner_lr_factor=True)
    official = hypergradient(tiny_bert, "second_order", lr=lr, inner_lr_factor=False)
    torch.testing.assert_close(official - direct, (textbook - direct) / lr)


def test_step_updates_both_levels(tiny_bert):
    model = tiny_bert()
    inject_selection_lora(model, AutoLoraConfig(max_rank=4, lora_alpha=8))
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    search = BilevelSearch(
        model, lower, upper,
        torch.optim.Adam(lower.values(), lr=1e-2), torch.optim.Adam(upper.values(), lr=1e-2),
        SearchSettings(lr=1e-2),
    )
    before_a = {n: p.detach().clone() for n, p in upper.items()}
    before_b = {n: p.detach().clone() for n, p in lower.items() if n.endswith("lora_B")}
    losses = search.step(random_batch(0), random_batch(1))
    assert all(torch.isfinite(torch.tensor([losses.train, losses.val])))
    assert all(not torch.equal(before_a[n], upper[n]) for n in upper)
    assert all(not torch.equal(before_b[n], lower[n]) for n in before_b)


@pytest.mark.parametrize("unroll", ["sgd", "optimizer"])
def test_a_step_without_a_validation_batch_moves_w_alone(tiny_bert, unroll):
    """search.alpha_every: between α updates, w takes a plain training step."""
    model = tiny_bert()
    inject_selection_lora(model, AutoLoraConfig(max_rank=4, lora_alpha=8))
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    search = BilevelSearch(model, lower, upper, torch.optim.Adam(lower.values(), lr=1e-2),
                           torch.optim.Adam(upper.values(), lr=1e-2), SearchSettings(lr=1e-2, unroll=unroll))
    before_a = {n: p.detach().clone() for n, p in upper.items()}
    before_b = {n: p.detach().clone() for n, p in lower.items() if n.endswith("lora_B")}
    losses = search.step(random_batch(0), None)
    assert losses.val is None and torch.isfinite(torch.tensor(losses.train))
    assert all(torch.equal(before_a[n], upper[n]) for n in upper)
    assert all(not torch.equal(before_b[n], lower[n]) for n in before_b)


def test_unknown_mode_is_rejected(tiny_bert):
    with pytest.raises(ValueError, match="SearchSettings.hypergradient: 'third_order' is not one of"):
        make_search(tiny_bert, "third_order")


# ---- item: the correction term must matter in the fixtures, or the comparisons prove nothing

def direct_term(search, train, val, lr):
    """∇_α L_val(w′, α) at the sgd pseudo-step w′ = w − lr ∇_w L_tr, by hand."""
    grad_w = torch.autograd.grad(search.loss(train), list(search.lower.values()))
    unrolled = {n: (p - lr * g).detach() for (n, p), g in zip(search.lower.items(), grad_w)}
    return flat(torch.autograd.grad(search.loss(val, unrolled), list(search.upper.values())))


def flat(tensors):
    return torch.cat([t.flatten() for t in tensors])


def test_the_correction_is_large_in_the_fixture_and_its_sign_matters(tiny_bert):
    lr = 0.5
    search = make_search(tiny_bert, "exact", lr=lr)
    direct = direct_term(search, random_batch(0), random_batch(1), lr)
    exact = hypergradient(tiny_bert, "exact", lr=lr)
    second = hypergradient(tiny_bert, "second_order", lr=lr)
    correction = second - direct
    assert (exact - direct).norm() >= 0.05 * exact.norm()  # the direct term alone is > 5 % off
    assert relative_error(second, exact) < 1e-3
    assert relative_error(direct - correction, exact) > 0.1  # a flipped sign would fail
    assert relative_error(direct, exact) > 0.05  # a dropped correction would fail


def exact_mixed_product(search, batch, at: dict, v: list) -> torch.Tensor:
    """∇²_{α,w} L_tr(w, α) · v by double backward (no finite difference)."""
    weights = {n: p.detach().requires_grad_() for n, p in at.items()}
    grads = torch.autograd.grad(search.loss(batch, weights), list(weights.values()), create_graph=True)
    inner = sum((g * d).sum() for g, d in zip(grads, v))
    return flat(torch.autograd.grad(inner, list(search.upper.values())))


def alpha_after_one_step(search, train, val) -> torch.Tensor:
    search.step(train, val)
    return flat(p.detach() for p in search.upper.values())


def test_the_official_form_moves_alpha_by_the_uncorrected_hessian_product(tiny_bert):
    """α after one step with an SGD α-optimiser of rate γ: α − γ (direct − H·v), with H·v by
    autograd at w (the sgd unroll's point) and no learning-rate factor on it."""
    lr, gamma = 0.5, 0.1
    model = selection_lora_bert(tiny_bert)
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    search = BilevelSearch(model, lower, upper, torch.optim.SGD(lower.values(), lr=lr),
                           torch.optim.SGD(upper.values(), lr=gamma), SearchSettings(lr=lr))
    train, val = random_batch(0), random_batch(1)
    before = flat(p.detach().clone() for p in upper.values())
    w = {n: p.detach().clone() for n, p in lower.items()}
    direct = direct_term(search, train, val, lr)
    grad_w = torch.autograd.grad(search.loss(train), list(lower.values()))
    unrolled = {n: (p - lr * g).detach().requires_grad_() for (n, p), g in zip(lower.items(), grad_w)}
    v = torch.autograd.grad(search.loss(val, unrolled), list(unrolled.values()))
    hessian_product = exact_mixed_product(search, train, w, v)
    expected = before - gamma * (direct - hessian_product)
    moved = alpha_after_one_step(search, train, val)
    assert hessian_product.norm() >= 0.05 * direct.norm()
    assert relative_error(moved - before, expected - before) < 1e-3  # the finite difference's own error
    assert relative_error(moved - before, -gamma * (direct - lr * hessian_product)) > 0.05  # not textbook


# ---- item: the official unroll (Betty darts, roll_back) against a hand-written reference

def adam_update(param, grad, state, lr, betas, eps=1e-8):
    """Adam as torch.optim.Adam computes it (no weight decay), written out."""
    state["t"] += 1
    state["m"] = betas[0] * state["m"] + (1 - betas[0]) * grad
    state["v"] = betas[1] * state["v"] + (1 - betas[1]) * grad * grad
    m_hat = state["m"] / (1 - betas[0] ** state["t"])
    denominator = (state["v"] / (1 - betas[1] ** state["t"])).sqrt() + eps
    return param - lr * m_hat / denominator


class OfficialReference:
    """The official step, pass by pass, on plain tensors (functional calls, hand-written Adam)."""

    def __init__(self, model, w_lr, alpha_lr, restore_optimizer_state=True):
        self.model = model
        self.w = {n: p.detach().clone() for n, p in lower_level_parameters(model).items()}
        self.alpha = {n: p.detach().clone() for n, p in selection_parameters(model).items()}
        self.w_state = {n: {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)} for n, p in self.w.items()}
        self.a_state = {n: {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)} for n, p in self.alpha.items()}
        self.w_lr, self.alpha_lr, self.restore = w_lr, alpha_lr, restore_optimizer_state

    def loss(self, batch, w, alpha):
        return functional_call(self.model, {**w, **alpha}, args=(), kwargs=dict(batch)).loss

    def grads(self, batch, w, alpha, wrt):
        w = {n: p.detach().requires_grad_(wrt == "w") for n, p in w.items()}
        alpha = {n: p.detach().requires_grad_(wrt == "alpha") for n, p in alpha.items()}
        targets = w if wrt == "w" else alpha
        return dict(zip(targets, torch.autograd.grad(self.loss(batch, w, alpha), list(targets.values()))))

    def lower_step(self, batch):
        grads = self.grads(batch, self.w, self.alpha, "w")
        return {n: adam_update(p, grads[n], self.w_state[n], self.w_lr, (0.9, 0.999)) for n, p in self.w.items()}

    def step(self, train, val):
        cached_state = copy.deepcopy(self.w_state)
        stepped = self.lower_step(train)                                       # 1. the real Adam step: w′
        w1 = {n: p.detach().requires_grad_() for n, p in stepped.items()}      # 2. validation at w′
        a1 = {n: p.detach().requires_grad_() for n, p in self.alpha.items()}
        loss = self.loss(val, w1, a1)
        direct = dict(zip(a1, torch.autograd.grad(loss, list(a1.values()), retain_graph=True)))
        v = dict(zip(w1, torch.autograd.grad(loss, list(w1.values()))))
        eps = 0.01 / torch.sqrt(sum((d ** 2).sum() for d in v.values()))      # 3. around w′, ± εv
        plus = self.grads(train, {n: stepped[n] + eps * v[n] for n in v}, self.alpha, "alpha")
        minus = self.grads(train, {n: stepped[n] - eps * v[n] for n in v}, self.alpha, "alpha")
        self.alpha = {n: adam_update(a, direct[n] - (plus[n] - minus[n]) / (2 * eps), self.a_state[n],  # 4. α step
                                     self.alpha_lr, (0.5, 0.999)) for n, a in self.alpha.items()}
        if self.restore:                                                       # 5. roll back w (never
            self.w_state = cached_state                                        #    overwritten) and state
        self.w = self.lower_step(train)                                        # 6. redo with the new α


def official_search(tiny_bert, w_lr, alpha_lr):
    model = selection_lora_bert(tiny_bert)
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    return BilevelSearch(model, lower, upper, torch.optim.Adam(lower.values(), lr=w_lr),
                         torch.optim.Adam(upper.values(), lr=alpha_lr, betas=(0.5, 0.999)),
                         SearchSettings(lr=w_lr, unroll="optimizer"))


def flat_state(named: dict) -> torch.Tensor:
    return torch.cat([t.detach().flatten() for t in named.values()])


def test_optimizer_unroll_is_the_official_sequence_over_three_steps(tiny_bert):
    w_lr, alpha_lr = 0.05, 0.2
    search = official_search(tiny_bert, w_lr, alpha_lr)
    reference = OfficialReference(selection_lora_bert(tiny_bert), w_lr, alpha_lr)
    no_rollback = OfficialReference(selection_lora_bert(tiny_bert), w_lr, alpha_lr, restore_optimizer_state=False)
    for step in range(3):
        train, val = random_batch(2 * step), random_batch(2 * step + 1)
        search.step(train, val)
        reference.step(train, val)
        no_rollback.step(train, val)
        assert relative_error(flat_state(search.upper), flat_state(reference.alpha)) < 1e-9
        assert relative_error(flat_state(search.lower), flat_state(reference.w)) < 1e-9
    # The fixture tells the two apart: Adam's state must be rolled back too.
    assert relative_error(flat_state(no_rollback.w), flat_state(reference.w)) > 1e-3


def test_optimizer_unroll_moves_alpha_unlike_the_sgd_unroll(tiny_bert):
    def alpha_moves(unroll):
        model = selection_lora_bert(tiny_bert)
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(model, lower, upper, torch.optim.Adam(lower.values(), lr=0.05),
                               torch.optim.SGD(upper.values(), lr=0.1), SearchSettings(lr=0.05, unroll=unroll))
        before = flat_state(upper).clone()
        return alpha_after_one_step(search, random_batch(0), random_batch(1)) - before

    assert relative_error(alpha_moves("optimizer"), alpha_moves("sgd")) > 0.05


def test_optimizer_unroll_rejects_what_it_cannot_do(tiny_bert):
    with pytest.raises(ValueError, match="SearchSettings.unroll: 'optimizer' works with"):
        make_search(tiny_bert, "exact", unroll="optimizer", inner_lr_factor=False)
    with pytest.raises(ValueError, match="SearchSettings.inner_lr_factor: true scales the sgd unroll"):
        make_search(tiny_bert, "second_order", unroll="optimizer", inner_lr_factor=True)


# ---- issue 16, lever 3: exact Hessian-vector products in place of the finite difference

@pytest.mark.parametrize("hvp", ["double_backward", "forward_over_reverse"])
def test_exact_hessian_products_give_the_exact_hypergradient(tiny_bert, hvp):
    exact = hypergradient(tiny_bert, "exact")
    got = hypergradient(tiny_bert, "second_order", hvp=hvp)
    finite_difference = hypergradient(tiny_bert, "second_order")
    assert relative_error(got, exact) < 1e-5
    assert relative_error(finite_difference, exact) > 10 * relative_error(got, exact)  # ε's error is gone


@pytest.mark.parametrize("hvp", ["double_backward", "forward_over_reverse"])
def test_exact_hessian_products_follow_the_optimizer_unroll(tiny_bert, hvp):
    def alpha_moves(hvp):
        model = selection_lora_bert(tiny_bert)
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(model, lower, upper, torch.optim.Adam(lower.values(), lr=0.05),
                               torch.optim.SGD(upper.values(), lr=0.1),
                               SearchSettings(lr=0.05, unroll="optimizer", hvp=hvp))
        before = flat_state(upper).clone()
        return alpha_after_one_step(search, random_batch(0), random_batch(1)) - before

    assert relative_error(alpha_moves(hvp), alpha_moves("finite_difference")) < 1e-3


def test_exact_hessian_products_have_no_fresh_masks_to_draw(tiny_bert):
    with pytest.raises(ValueError, match="SearchSettings.fd_dropout: 'fresh'"):
        make_search(tiny_bert, "second_order", hvp="double_backward", fd_dropout="fresh")
    with pytest.raises(ValueError, match="SearchSettings.hvp: 'finite_differences' is not one of"):
        make_search(tiny_bert, "second_order", hvp="finite_differences")


@pytest.mark.parametrize("train_base", [False, True])
def test_train_base_puts_every_weight_but_the_adapted_matrices_in_the_lower_level(tiny_bert, train_base):
    """search.train_base (the official BioNLP search): the optimiser holds, and the finite
    difference perturbs, every weight but the adapted q/v matrices and α; otherwise LoRA and the
    head alone."""
    from autolora.core import AutoLoraConfig
    from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_parameters

    model = tiny_bert()
    inject_selection_lora(model, AutoLoraConfig(max_rank=4, train_base=train_base))
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    adapted_bases = {n for n in dict(model.named_parameters()) if ".base." in n}
    assert adapted_bases and not adapted_bases & set(lower)  # the adapted matrices stay frozen
    base = {n for n in lower if "lora_" not in n and not n.startswith(("classifier", "bert.pooler"))}
    if train_base:
        assert {"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.key.weight",
                "bert.encoder.layer.1.output.dense.weight"} <= base
    else:
        assert base == set()
    search = BilevelSearch(model, lower, upper, torch.optim.SGD(lower.values(), lr=0.1),
                           torch.optim.SGD(upper.values(), lr=0.1), SearchSettings(unroll="optimizer"))
    assert {id(p) for group in search.lower_optimizer.param_groups for p in group["params"]} == {id(p) for p in lower.values()}
    perturbed = []
    original = search.loss

    def recording(batch, replaced=None):
        if replaced is not None:
            perturbed.append(set(replaced))
        return original(batch, replaced)

    search.loss = recording
    search.step(random_batch(0), random_batch(1))
    assert perturbed[-2:] == [set(lower), set(lower)]  # the two finite-difference passes
