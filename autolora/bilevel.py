"""Bilevel optimisation of AutoLoRA (Eq. 3–6) with the DARTS one-step approximation.

Lower level: LoRA weights w minimise the training loss L_tr(w, α).
Upper level: selection variables α minimise the validation loss at the adapted weights,

    min_α L_val(w*(α), α),     w*(α) ≈ w' = w − ξ ∇_w L_tr(w, α)     (one unrolled step, Eq. 5).

Its gradient (Eq. 6) is

    ∇_α L_val(w', α) − ξ ∇²_{α,w} L_tr(w, α) · v,     v = ∇_{w'} L_val(w', α),

and the Hessian-vector product is taken by finite differences, as in DARTS and the official
code (through Betty):

    ∇²_{α,w} L_tr · v ≈ (∇_α L_tr(w⁺, α) − ∇_α L_tr(w⁻, α)) / 2ε,   w± = w ± ε v,   ε = 0.01/‖v‖.

Modes:
- ``second_order``: the formula above (4 forward/backward passes per step: train, validation,
  w⁺, w⁻). The official Betty loop with ``roll_back`` redoes the inner step afterwards (a fifth
  pass); we reuse the training gradient of the first pass instead.
- ``first_order``: ξ = 0, i.e. ∇_α L_val(w, α) (2 passes).
- ``exact``: autograd through the unrolled step (reference for tests; small models only).
- ``single_level``: no meta-learning (the no_meta ablation): α follows ∇_α L_tr(w, α) on the
  training batch, in the same step as w; the validation loss is only computed for the record.

``inner_lr_factor``: the unroll steps by ξ = the inner learning rate. Eq. 6 multiplies the
correction by the same ξ; the official Betty code omits that factor (ξ = 1 in the correction).
False (the default) reproduces the official code; True is the textbook DARTS gradient, the
one ``exact`` computes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

HYPERGRADIENT_MODES = ("second_order", "first_order", "exact", "single_level")
FINITE_DIFFERENCE_SCALE = 0.01

Batch = Mapping[str, torch.Tensor]
Params = dict[str, torch.Tensor]


@dataclass
class StepLosses:
    train: float
    val: float


@contextlib.contextmanager
def replayed_rng(state: torch.Tensor | None, cuda_states: list | None) -> Iterator[None]:
    """Run a pass with the RNG state of an earlier one, so dropout masks repeat: the two
    finite-difference passes must see the same stochastic function as the training pass."""
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if cuda_states else []):
        if state is not None:
            torch.set_rng_state(state)
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
        yield


def _grad(loss: torch.Tensor, inputs: list[torch.Tensor], create_graph: bool = False) -> tuple[torch.Tensor, ...]:
    # A weight the loss does not reach (e.g. a frozen path) gets a zero gradient, not an error.
    return torch.autograd.grad(loss, inputs, create_graph=create_graph, allow_unused=True, materialize_grads=True)


class BilevelSearch:
    """One DARTS-style step at a time: update α on a validation batch, then w on a training batch."""

    def __init__(
        self,
        model: nn.Module,
        lower: dict[str, nn.Parameter],
        upper: dict[str, nn.Parameter],
        lower_optimizer: torch.optim.Optimizer,
        upper_optimizer: torch.optim.Optimizer,
        mode: str = "second_order",
        unroll_lr: float = 3e-4,
        inner_lr_factor: bool = False,
    ):
        if mode not in HYPERGRADIENT_MODES:
            raise ValueError(f"hypergradient mode must be one of {HYPERGRADIENT_MODES}, got {mode!r}")
        self.model = model
        self.lower = lower
        self.upper = upper
        self.lower_optimizer = lower_optimizer
        self.upper_optimizer = upper_optimizer
        self.mode = mode
        self.unroll_lr = unroll_lr
        self.correction_scale = unroll_lr if inner_lr_factor else 1.0

    def loss(self, batch: Batch, lower: Params | None = None) -> torch.Tensor:
        """Model loss on a batch, optionally with the lower-level weights replaced."""
        if lower is None:
            return self.model(**batch).loss
        return functional_call(self.model, lower, args=(), kwargs=dict(batch)).loss

    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> tuple[list[torch.Tensor], list[torch.Tensor], StepLosses]:
        """Return (∇_α of the upper objective, ∇_w L_tr at the current w, losses)."""
        w_names, w = list(self.lower), list(self.lower.values())
        alphas = list(self.upper.values())
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

        train_loss = self.loss(train_batch)
        if self.mode == "single_level":
            return self._training_gradients(train_loss, w, alphas, val_batch)
        exact = self.mode == "exact"
        grad_w = _grad(train_loss, w, create_graph=exact)

        if self.mode == "first_order":
            val_loss = self.loss(val_batch)
            grad_alpha = _grad(val_loss, alphas)
        elif exact:
            unrolled = {n: p - self.unroll_lr * g for n, p, g in zip(w_names, w, grad_w)}
            val_loss = self.loss(val_batch, unrolled)
            grad_alpha = _grad(val_loss, alphas)
            grad_w = [g.detach() for g in grad_w]
        else:
            unrolled = {n: (p - self.unroll_lr * g).detach().requires_grad_() for n, p, g in zip(w_names, w, grad_w)}
            val_loss = self.loss(val_batch, unrolled)
            grads = _grad(val_loss, alphas + list(unrolled.values()))
            direct, v = grads[: len(alphas)], grads[len(alphas) :]
            hvp = self._finite_difference_hvp(train_batch, w_names, w, v, rng, cuda_rng)
            grad_alpha = [d - self.correction_scale * h for d, h in zip(direct, hvp)]
        return list(grad_alpha), list(grad_w), StepLosses(train_loss.item(), val_loss.item())

    def _training_gradients(self, train_loss, w, alphas, val_batch):
        """(∇_α L_tr, ∇_w L_tr, losses): α as one more training weight."""
        grads = _grad(train_loss, w + alphas)
        with torch.no_grad():
            val_loss = self.loss(val_batch)  # recorded only, as the bilevel modes record it
        return list(grads[len(w):]), list(grads[: len(w)]), StepLosses(train_loss.item(), val_loss.item())

    def _finite_difference_hvp(self, batch, w_names, w, v, rng, cuda_rng) -> list[torch.Tensor]:
        """(∇_α L_tr(w + εv) − ∇_α L_tr(w − εv)) / 2ε  ≈  ∇²_{α,w} L_tr · v."""
        norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in v))
        eps = FINITE_DIFFERENCE_SCALE / norm.clamp_min(1e-12)
        alphas = list(self.upper.values())
        grads = []
        for sign in (1.0, -1.0):
            shifted = {n: (p + sign * eps * d).detach() for n, p, d in zip(w_names, w, v)}
            with replayed_rng(rng, cuda_rng):
                grads.append(_grad(self.loss(batch, shifted), alphas))
        return [(gp - gm) / (2 * eps) for gp, gm in zip(*grads)]

    def step(self, train_batch: Batch, val_batch: Batch) -> StepLosses:
        """Update α with the hypergradient, then w with the training gradient of the same step."""
        grad_alpha, grad_w, losses = self.hypergradient(train_batch, val_batch)
        for param, grad in zip(self.upper.values(), grad_alpha):
            param.grad = grad
        self.upper_optimizer.step()
        for param, grad in zip(self.lower.values(), grad_w):
            param.grad = grad
        self.lower_optimizer.step()
        return losses
