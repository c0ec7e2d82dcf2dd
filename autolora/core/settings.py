"""How the bilevel search computes α's hypergradient: one documented, validated dataclass.

It imports nothing heavy, so the pipeline's config check builds the same object that
``BilevelSearch`` does, and the config schema's enums are tested against ``CHOICES``: one
definition of what is allowed, not three (schema, config check, search).
"""

from __future__ import annotations

from dataclasses import dataclass

HYPERGRADIENT_MODES = ("second_order", "first_order", "exact", "single_level")
UNROLLS = ("sgd", "optimizer")
FD_DROPOUT = ("replay", "fresh")
HVP_METHODS = ("finite_difference", "double_backward", "forward_over_reverse")
# The optimizer unroll runs the official sequence, which has a first- and a second-order form only.
OPTIMIZER_UNROLL_MODES = ("second_order", "first_order")
CHOICES = {"hypergradient": HYPERGRADIENT_MODES, "unroll": UNROLLS, "fd_dropout": FD_DROPOUT, "hvp": HVP_METHODS}


class InvalidSetting(ValueError):
    """A field of ``SearchSettings`` has a value, or a combination, without meaning."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"SearchSettings.{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class SearchSettings:
    """The hypergradient's switches (``autolora.core.bilevel`` explains each in full).

    Attributes:
        hypergradient: ``second_order`` (Eq. 6, the paper's), ``first_order`` (ξ = 0),
            ``exact`` (autograd through the sgd unroll; small models), ``single_level`` (α on the
            training loss: the no-meta ablation).
        unroll: ``sgd`` (a pseudo-step by ``unroll_lr``, 4 passes) or ``optimizer`` (the real
            lower optimiser step, rolled back and redone, as Betty's darts: 5 passes).
        unroll_lr: η of the sgd pseudo-step (the lower level's learning rate).
        inner_lr_factor: scale the correction by ξ = η (textbook DARTS); the official code does
            not (ξ = 1). The sgd unroll only.
        fd_dropout: the finite-difference passes ``replay`` the training pass's dropout masks or
            draw ``fresh`` ones (as Betty does).
        hypergradient_fp32: run the passes that make the hypergradient in fp32 inside bf16 autocast.
        hvp: the Hessian-vector product by ``finite_difference`` (DARTS, Betty),
            ``double_backward`` or ``forward_over_reverse`` (both exact).
    """

    hypergradient: str = "second_order"
    unroll: str = "sgd"
    unroll_lr: float = 3e-4
    inner_lr_factor: bool = False
    fd_dropout: str = "replay"
    hypergradient_fp32: bool = True
    hvp: str = "finite_difference"

    def __post_init__(self):
        for field, choices in CHOICES.items():
            if getattr(self, field) not in choices:
                raise InvalidSetting(field, f"{getattr(self, field)!r} is not one of {list(choices)}")
        if not isinstance(self.unroll_lr, (int, float)) or isinstance(self.unroll_lr, bool) or self.unroll_lr <= 0:
            raise InvalidSetting("unroll_lr", f"{self.unroll_lr!r} is not a positive number")
        if self.hvp != "finite_difference" and self.fd_dropout == "fresh":
            raise InvalidSetting("fd_dropout", "'fresh' draws new dropout masks for the finite-difference passes; "
                                 f"hvp {self.hvp!r} has none (it replays the training pass's masks)")
        if self.unroll == "optimizer" and self.hypergradient not in OPTIMIZER_UNROLL_MODES:
            raise InvalidSetting("unroll", f"'optimizer' works with hypergradient {list(OPTIMIZER_UNROLL_MODES)}, "
                                 f"not {self.hypergradient!r}")
        if self.unroll == "optimizer" and self.inner_lr_factor:
            raise InvalidSetting("inner_lr_factor", "true scales the sgd unroll's correction by its pseudo-step; "
                                 "unroll 'optimizer' has none")
