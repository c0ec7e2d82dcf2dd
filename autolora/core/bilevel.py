"""Bilevel optimisation of AutoLoRA (Eq. 3–6) with the DARTS one-step approximation.

Lower level: LoRA weights w minimise the training loss L_tr(w, α).
Upper level: selection variables α minimise the validation loss at the adapted weights,

    min_α L_val(w*(α), α),     w*(α) ≈ w′ (one unrolled lower step, Eq. 5).

Its gradient (Eq. 6) is

    ∇_α L_val(w′, α) − ξ ∇²_{α,w} L_tr · v,     v = ∇_{w′} L_val(w′, α),

and the Hessian-vector product is taken by central finite differences, as in DARTS and in
Betty's ``darts`` hypergradient that the official code runs:

    ∇²_{α,w} L_tr · v ≈ (∇_α L_tr(u + εv, α) − ∇_α L_tr(u − εv, α)) / 2ε,   ε = 0.01/‖v‖,

on the training batch of the same step, around a point u that depends on the unroll. The
switches below are fields of ``autolora.core.settings.SearchSettings`` (the config's ``search``
section, by the same names).

Unrolls (``unroll``):
- ``sgd``: w′ = w − η ∇_w L_tr(w, α) is a pseudo-step by the inner learning rate η, and the
  difference is taken around the *pre-step* weights (u = w). The lower-level update of the step
  reuses the training gradient of the first pass: 4 passes (train, validation, w + εv, w − εv).
- ``optimizer``: the official sequence (Betty ``darts``, unroll 1, ``roll_back=True``). Cache w
  and the lower optimiser's state; take the real lower optimiser step (Adam) → w′; validation
  pass at w′; the difference around the *post-step* weights (u = w′); α step; restore w and the
  optimiser state (Betty deep-copies the module's and the optimiser's state dicts and loads them
  back, so Adam's moments and step count are rolled back too); redo the lower step with the new
  α on the same training batch: 5 passes.

Modes (``hypergradient``):
- ``second_order``: the formula above.
- ``first_order``: ξ = 0. With ``sgd``, ∇_α L_val(w, α) (2 passes); with ``optimizer``,
  ∇_α L_val(w′, α) at the post-step weights, then the roll-back and redo (3 passes).
- ``exact``: autograd through the ``sgd`` unroll (reference for tests; small models only).
- ``single_level``: no meta-learning (the no_meta ablation): α follows ∇_α L_tr(w, α) on the
  training batch, in the same step as w; the validation loss is only computed for the record.

``hvp``: how ∇²_{α,w} L_tr · v is taken.
- ``finite_difference``: the two perturbed passes above (DARTS, Betty; the default).
- ``double_backward``: exact, reverse over reverse: ∇_α (∇_w L_tr(u, α) · v). With the ``sgd``
  unroll u = w is where the training pass already ran, so its graph is kept and differentiated
  once more (same dropout masks) instead of two new passes; the ``optimizer`` unroll runs one
  training pass at u = w′ first.
- ``forward_over_reverse``: exact, the directional derivative of ∇_α L_tr(u, α) along v by
  ``torch.func.jvp`` (one forward-mode pass through a reverse one).
The exact forms have no ε: under bf16 autocast ``double_backward`` differentiates the bf16
training graph (``hypergradient_fp32`` does not apply to it).

``inner_lr_factor`` (``sgd`` only): Eq. 6 multiplies the correction by ξ = η; the official Betty
code omits that factor (ξ = 1). False (the default) reproduces the official code; True is the
textbook DARTS gradient, the one ``exact`` computes.

``fd_dropout``: ``replay`` runs the two perturbed passes with the training pass's RNG state, so
they see the same dropout masks and their difference is the derivative, not mask noise; ``fresh``
draws new masks in each pass, as Betty does.

``hypergradient_fp32``: run the passes that make the hypergradient (validation and the two
perturbed ones) in fp32 even inside a bf16 autocast region; the training passes keep the
training precision. The perturbation moves each weight by ε·v_i (~1e-5 on a roberta-base LoRA),
below bf16's spacing, so under bf16 the difference of the two gradients is mostly rounding noise
times 1/2ε (measured on CPU against float64: up to 10 % off from the perturbed passes, up to 2 %
from the validation pass, under 0.1 % from the training pass).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from autolora.core.settings import SearchSettings

FINITE_DIFFERENCE_SCALE = 0.01

Batch = Mapping[str, torch.Tensor]
Params = dict[str, torch.Tensor]


@dataclass
class StepLosses:
    train: float
    val: float | None  # None: a step without an α update computes no validation loss


@dataclass
class RngState:
    """The RNG state before a step's training pass, to replay its dropout masks later."""
    cpu: torch.Tensor
    cuda: list | None

    @classmethod
    def capture(cls) -> "RngState":
        return cls(torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)


@contextlib.contextmanager
def replayed_rng(state: RngState | None) -> Iterator[None]:
    """Run a pass with the RNG state of an earlier one, so dropout masks repeat (None: fresh
    masks, the RNG stream goes on)."""
    if state is None:
        yield
        return
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if state.cuda else []):
        torch.set_rng_state(state.cpu)
        if state.cuda:
            torch.cuda.set_rng_state_all(state.cuda)
        yield


def _grad(loss: torch.Tensor, inputs: list[torch.Tensor], create_graph: bool = False) -> tuple[torch.Tensor, ...]:
    # A weight the loss does not reach (e.g. a frozen path) gets a zero gradient, not an error.
    return torch.autograd.grad(loss, inputs, create_graph=create_graph, allow_unused=True, materialize_grads=True)


def _set_grads_and_step(optimizer: torch.optim.Optimizer, params, grads) -> None:
    for param, grad in zip(params, grads):
        param.grad = grad
    optimizer.step()


class BilevelSearch:
    """One DARTS-style step at a time: update α on a validation batch, then w on a training batch."""

    def __init__(self, model: nn.Module, lower: dict[str, nn.Parameter], upper: dict[str, nn.Parameter],
                 lower_optimizer: torch.optim.Optimizer, upper_optimizer: torch.optim.Optimizer,
                 settings: SearchSettings = SearchSettings()):
        """``settings``: its hypergradient switches (every switch and combination is checked
        there: ValueError naming the field); the optimisers are the caller's."""
        self.settings = settings
        self.model = model
        self.lower = lower
        self.upper = upper
        self.lower_optimizer = lower_optimizer
        self.upper_optimizer = upper_optimizer
        self.correction_scale = settings.lr if settings.inner_lr_factor else 1.0

    def loss(self, batch: Batch, lower: Params | None = None) -> torch.Tensor:
        """Model loss on a batch, optionally with the lower-level weights replaced."""
        if lower is None:
            return self.model(**batch).loss
        return functional_call(self.model, lower, args=(), kwargs=dict(batch)).loss

    def step(self, train_batch: Batch, val_batch: Batch | None) -> StepLosses:
        """One search step: α by the hypergradient, w by the training loss. Without a
        validation batch, w alone takes its step (``search.alpha_every``: α is updated only
        every K-th step) and the losses hold no validation loss."""
        if val_batch is None:
            return self._lower_step(train_batch)
        if self.settings.unroll == "optimizer":
            return self._optimizer_unroll_step(train_batch, val_batch)
        grad_alpha, grad_w, losses = self.hypergradient(train_batch, val_batch)
        _set_grads_and_step(self.upper_optimizer, self.upper.values(), grad_alpha)
        _set_grads_and_step(self.lower_optimizer, self.lower.values(), grad_w)
        return losses

    def _lower_step(self, train_batch: Batch) -> StepLosses:
        w = list(self.lower.values())
        train_loss = self.loss(train_batch)
        _set_grads_and_step(self.lower_optimizer, w, _grad(train_loss, w))
        return StepLosses(train_loss.item(), None)

    # ---- the sgd unroll: one pseudo-step, no side effects ---------------------------------

    def hypergradient(self, train_batch: Batch, val_batch: Batch) -> tuple[list[torch.Tensor], list[torch.Tensor], StepLosses]:
        """Return (∇_α of the upper objective, ∇_w L_tr at the current w, losses), sgd unroll."""
        if self.settings.unroll != "sgd":
            raise ValueError("hypergradient() computes the sgd unroll; the optimizer unroll needs step()")
        w_names, w = list(self.lower), list(self.lower.values())
        alphas = list(self.upper.values())
        rng = RngState.capture()

        exact = self.settings.hypergradient == "exact"
        # double_backward differentiates this pass's gradient once more (Eq. 6's correction at u = w)
        keep_graph = exact or (self.settings.hypergradient == "second_order" and self.settings.hvp == "double_backward")
        with _twice_differentiable() if keep_graph else contextlib.nullcontext():
            train_loss = self.loss(train_batch)
        if self.settings.hypergradient == "single_level":
            return self._training_gradients(train_loss, w, alphas, val_batch)
        grad_w = _grad(train_loss, w, create_graph=keep_graph)

        if self.settings.hypergradient == "first_order":
            val_loss = self._validation_loss(val_batch)
            grad_alpha = _grad(val_loss, alphas)
        elif exact:
            unrolled = {n: p - self.settings.lr * g for n, p, g in zip(w_names, w, grad_w)}
            val_loss = self.loss(val_batch, unrolled)
            grad_alpha = _grad(val_loss, alphas)
        else:
            unrolled = {n: (p - self.settings.lr * g).detach().requires_grad_() for n, p, g in zip(w_names, w, grad_w)}
            val_loss = self._validation_loss(val_batch, unrolled)
            direct, v = self._split(_grad(val_loss, alphas + list(unrolled.values())), len(alphas))
            hvp = self._hvp(train_batch, w, v, rng, grads_at_u=grad_w if keep_graph else None)
            grad_alpha = [d - self.correction_scale * h for d, h in zip(direct, hvp)]
        grad_w = [g.detach() for g in grad_w]
        return list(grad_alpha), grad_w, StepLosses(train_loss.item(), val_loss.item())

    def _training_gradients(self, train_loss, w, alphas, val_batch):
        """(∇_α L_tr, ∇_w L_tr, losses): α as one more training weight."""
        grads = _grad(train_loss, w + alphas)
        with torch.no_grad():
            val_loss = self.loss(val_batch)  # recorded only, as the bilevel modes record it
        return list(grads[len(w):]), list(grads[: len(w)]), StepLosses(train_loss.item(), val_loss.item())

    # ---- the optimizer unroll: Betty's darts with roll_back --------------------------------

    def _optimizer_unroll_step(self, train_batch: Batch, val_batch: Batch) -> StepLosses:
        w, alphas = list(self.lower.values()), list(self.upper.values())
        cached = self._cache_lower()
        rng = RngState.capture()
        train_loss = self.loss(train_batch)
        _set_grads_and_step(self.lower_optimizer, w, _grad(train_loss, w))  # the real step: w → w′
        val_loss = self._validation_loss(val_batch)
        direct, v = self._split(_grad(val_loss, alphas + w), len(alphas))
        grad_alpha = direct
        if self.settings.hypergradient == "second_order":
            hvp = self._hvp(train_batch, w, v, rng)  # around w′
            grad_alpha = [d - h for d, h in zip(direct, hvp)]
        _set_grads_and_step(self.upper_optimizer, alphas, grad_alpha)
        self._restore_lower(cached)
        _set_grads_and_step(self.lower_optimizer, w, _grad(self.loss(train_batch), w))  # redo with the new α
        return StepLosses(train_loss.item(), val_loss.item())

    def _cache_lower(self) -> tuple[list[torch.Tensor], dict]:
        """The lower level's weights and optimiser state, as Betty's cache_states keeps them."""
        weights = [p.detach().clone() for p in self.lower.values()]
        return weights, copy.deepcopy(self.lower_optimizer.state_dict())

    def _restore_lower(self, cached: tuple[list[torch.Tensor], dict]) -> None:
        weights, optimizer_state = cached
        with torch.no_grad():
            for param, saved in zip(self.lower.values(), weights):
                param.copy_(saved)
        self.lower_optimizer.load_state_dict(optimizer_state)

    # ---- shared pieces ---------------------------------------------------------------------

    @staticmethod
    def _split(grads, n_alphas: int):
        return grads[:n_alphas], grads[n_alphas:]

    def _hvp(self, batch, around, v, rng: RngState, grads_at_u=None) -> list[torch.Tensor]:
        """∇²_{α,w} L_tr(u, α) · v at u = ``around``, by ``self.settings.hvp``. ``grads_at_u``: ∇_w L_tr(u)
        with its graph, when a training pass at u already made it (``double_backward`` only)."""
        if self.settings.hvp == "finite_difference":
            return self._finite_difference_hvp(batch, around, v, rng)
        if self.settings.hvp == "forward_over_reverse":
            return self._forward_over_reverse_hvp(batch, around, v, rng)
        if grads_at_u is None:
            with replayed_rng(rng), _twice_differentiable():
                grads_at_u = _grad(self.loss(batch, dict(zip(self.lower, around))), list(around), create_graph=True)
        directional = sum((g * d).sum() for g, d in zip(grads_at_u, v))
        return list(_grad(directional, list(self.upper.values())))

    def _forward_over_reverse_hvp(self, batch, around, v, rng: RngState) -> list[torch.Tensor]:
        """d/dt ∇_α L_tr(u + t v, α) at t = 0, by torch.func.jvp."""
        alphas = {n: a.detach() for n, a in self.upper.items()}

        def grad_alpha(weights: Params) -> Params:
            return torch.func.grad(lambda a: self.loss(batch, {**weights, **a}))(alphas)

        point = {n: u.detach() for n, u in zip(self.lower, around)}
        with replayed_rng(rng), self._hypergradient_precision(), _twice_differentiable():
            _, tangent = torch.func.jvp(grad_alpha, (point,), (dict(zip(self.lower, v)),))
        return [tangent[n] for n in self.upper]

    def _finite_difference_hvp(self, batch, around, v, rng: RngState) -> list[torch.Tensor]:
        """(∇_α L_tr(u + εv) − ∇_α L_tr(u − εv)) / 2ε  ≈  ∇²_{α,w} L_tr · v, u = ``around``."""
        norm = torch.sqrt(sum((g.detach() ** 2).sum() for g in v))
        eps = FINITE_DIFFERENCE_SCALE / norm.clamp_min(1e-12)
        alphas = list(self.upper.values())
        grads = []
        for sign in (1.0, -1.0):
            shifted = {n: (p + sign * eps * d).detach() for n, p, d in zip(self.lower, around, v)}
            with replayed_rng(rng if self.settings.fd_dropout == "replay" else None), self._hypergradient_precision():
                grads.append(_grad(self.loss(batch, shifted), alphas))
        return [(gp - gm) / (2 * eps) for gp, gm in zip(*grads)]

    def _validation_loss(self, batch: Batch, lower: Params | None = None) -> torch.Tensor:
        with self._hypergradient_precision():
            return self.loss(batch, lower)

    def _hypergradient_precision(self):
        """fp32 for the hypergradient's passes when asked, whatever autocast region the step runs in."""
        if not self.settings.hypergradient_fp32:
            return contextlib.nullcontext()
        device_type = next(iter(self.upper.values())).device.type
        return torch.autocast(device_type, enabled=False)


def _twice_differentiable():
    """Attention by SDPA's math kernel for passes differentiated twice or in forward mode: the
    fused kernels (flash, memory-efficient) have neither a double backward nor a forward-mode
    derivative. Models with eager attention are unaffected."""
    return sdpa_kernel(SDPBackend.MATH)
