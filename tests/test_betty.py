"""The optimizer unroll against Betty itself (betty-ml, the library the official search runs on):
Betty's Engine with the darts hypergradient and roll-back, and ``BilevelSearch`` with ``SearchSettings(unroll="optimizer")``,
side by side on one small float64 model with dropout on, for several steps.

Betty 0.2.1 declares Python < 3.11; the set-up installs it without that check (it imports and runs
on 3.11). Where it cannot be imported, these tests skip and say why.
"""

import pytest
import torch
from torch import nn

from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import lower_level_parameters, selection_parameters
from tests.conftest import random_batch, selection_lora_bert

betty = pytest.importorskip("betty", reason="betty-ml is not importable here (pinned 0.2.1, see workflow/scripts/setup-cpu-env.sh)")

STEPS = 4
LOWER_LR, UPPER_LR = 1e-2, 5e-2


class Holder(nn.Module):
    """A Betty problem's module: exactly the given parameters (the same tensors the model uses)."""

    def __init__(self, parameters):
        super().__init__()
        self.held = nn.ParameterList(parameters)


def batches(first_seed):
    return [random_batch(first_seed + step) for step in range(STEPS)]


def search_model(tiny_bert):
    model = selection_lora_bert(tiny_bert)
    model.train()  # dropout on: the passes must consume the random stream in Betty's order
    return model, lower_level_parameters(model), selection_parameters(model)


def optimizers(lower, upper):
    return (torch.optim.Adam(lower.values(), lr=LOWER_LR),
            torch.optim.Adam(upper.values(), lr=UPPER_LR, betas=(0.5, 0.999)))


def run_betty(tiny_bert):
    from betty.configs import Config, EngineConfig
    from betty.engine import Engine
    from betty.problems import ImplicitProblem

    model, lower, upper = search_model(tiny_bert)

    class Problem(ImplicitProblem):
        def training_step(self, batch):
            return model(**batch).loss

    lower_optimizer, upper_optimizer = optimizers(lower, upper)
    inner = Problem(name="inner", module=Holder(list(lower.values())), optimizer=lower_optimizer,
                    train_data_loader=batches(100), config=Config(type="darts", unroll_steps=1))
    outer = Problem(name="outer", module=Holder(list(upper.values())), optimizer=upper_optimizer,
                    train_data_loader=batches(200), config=Config(retain_graph=True))
    engine = Engine(config=EngineConfig(train_iters=STEPS, roll_back=True), problems=[outer, inner],
                    dependencies={"u2l": {outer: [inner]}, "l2u": {inner: [outer]}})
    torch.manual_seed(7)
    engine.run()
    return lower, upper


def run_ours(tiny_bert, fd_dropout):
    model, lower, upper = search_model(tiny_bert)
    search = BilevelSearch(model, lower, upper, *optimizers(lower, upper),
                           SearchSettings(unroll="optimizer", fd_dropout=fd_dropout))
    torch.manual_seed(7)
    for train, val in zip(batches(100), batches(200)):
        search.step(train, val)
    return lower, upper


def relative_difference(first: dict, second: dict) -> float:
    a = torch.cat([p.detach().flatten() for p in first.values()])
    b = torch.cat([p.detach().flatten() for p in second.values()])
    return float((a - b).norm() / b.norm())


def test_the_optimizer_unroll_with_fresh_masks_is_bettys_darts_with_roll_back(tiny_bert):
    betty_lower, betty_upper = run_betty(tiny_bert)
    lower, upper = run_ours(tiny_bert, fd_dropout="fresh")
    start_lower, start_upper = search_model(tiny_bert)[1:]
    assert relative_difference(betty_upper, start_upper) > 1e-3  # α moved: the comparison means something
    assert relative_difference(upper, betty_upper) < 1e-10
    assert relative_difference(lower, betty_lower) < 1e-10
    assert relative_difference(betty_lower, start_lower) > 1e-3


def test_replayed_masks_differ_from_bettys_fresh_ones(tiny_bert):
    """fd_dropout: replay is a deliberate deviation: measurably not Betty's hypergradient."""
    _, betty_upper = run_betty(tiny_bert)
    _, upper = run_ours(tiny_bert, fd_dropout="replay")
    assert relative_difference(upper, betty_upper) > 1e-6


def hypergradient_in_train_mode(tiny_bert, **options):
    model, lower, upper = search_model(tiny_bert)
    search = BilevelSearch(model, lower, upper, *optimizers(lower, upper), SearchSettings(**options))
    torch.manual_seed(3)
    grad_alpha, _, _ = search.hypergradient(random_batch(0), random_batch(1))
    return torch.cat([g.flatten() for g in grad_alpha])


def test_replayed_finite_differences_see_the_training_passs_dropout_masks(tiny_bert):
    """Dropout on: with replay, the finite difference is the exact product on the training pass's
    own masks (double_backward differentiates that very pass); with fresh masks it is not."""
    exact = hypergradient_in_train_mode(tiny_bert, hvp="double_backward")
    replayed = hypergradient_in_train_mode(tiny_bert, fd_dropout="replay")
    fresh = hypergradient_in_train_mode(tiny_bert, fd_dropout="fresh")
    assert float((replayed - exact).norm() / exact.norm()) < 1e-4  # the difference quotient's own error
    assert float((fresh - exact).norm() / exact.norm()) > 1e-2
