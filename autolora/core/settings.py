"""The search's settings, the hypergradient's switches among them: one documented, validated dataclass.

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
CHOICES = {"optimizer": ("adam", "adamw"), "alpha_init": ("ones", "zeros"), "hypergradient": HYPERGRADIENT_MODES,
           "unroll": UNROLLS, "fd_dropout": FD_DROPOUT, "hvp": HVP_METHODS}


class InvalidSetting(ValueError):
    """A field of ``SearchSettings`` has a value, or a combination, without meaning."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"SearchSettings.{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class SearchSettings:
    """Every setting of the search, one field per key of the config's ``search`` section and by the
    same name (``autolora/schemas/config.schema.yaml`` describes each; its defaults are these,
    tested). ``BilevelSearch`` reads the hypergradient's switches (``autolora.core.bilevel``
    explains each in full), the search stage the rest.

    Attributes:
        epochs, batch_size: passes over search-train and its batch size (search-validation's too).
        length_buckets: sort batches by length within pools of this many batches (None: plain shuffle).
        val_fraction: the share of the training data held out as search-validation.
        optimizer, lr, weight_decay: the lower level's (LoRA weights w) optimiser; ``lr`` is also
            η, the sgd unroll's pseudo-step.
        alpha_lr, alpha_betas, alpha_weight_decay: the upper level's (α) Adam.
        alpha_init: α's initial value, ``ones`` (the official code) or ``zeros``.
        hypergradient: ``second_order`` (Eq. 6, the paper's), ``first_order`` (ξ = 0),
            ``exact`` (autograd through the sgd unroll; small models), ``single_level`` (α on the
            training loss: the no-meta ablation).
        unroll: ``sgd`` (a pseudo-step by ``lr``, 4 passes) or ``optimizer`` (the real lower
            optimiser step, rolled back and redone, as Betty's darts: 5 passes).
        inner_lr_factor: scale the correction by ξ = η (textbook DARTS); the official code does
            not (ξ = 1). The sgd unroll only.
        fd_dropout: the finite-difference passes ``replay`` the training pass's dropout masks or
            draw ``fresh`` ones (as Betty does).
        hvp: the Hessian-vector product by ``finite_difference`` (DARTS, Betty),
            ``double_backward`` or ``forward_over_reverse`` (both exact).
        hypergradient_fp32: run the passes that make the hypergradient in fp32 inside bf16 autocast.
        train_head, train_base: the search also trains the task head / every base weight.
        lora_dropout: dropout on the selection LoRA's input.
        log_every, alpha_every: record the trajectory every N steps; update α every N steps.
        stop_when_stable: stop once the ranks were unchanged over this many logged steps (None: never).
        checkpoint_every: save a resumable checkpoint every N steps (None: every epoch).
    """

    epochs: int = 20
    batch_size: int = 32
    length_buckets: int | None = None
    val_fraction: float = 0.3
    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 0.0
    alpha_lr: float = 3e-4
    alpha_betas: tuple[float, float] = (0.5, 0.999)
    alpha_weight_decay: float = 0.0
    alpha_init: str = "ones"
    hypergradient: str = "second_order"
    unroll: str = "sgd"
    inner_lr_factor: bool = False
    fd_dropout: str = "replay"
    hvp: str = "finite_difference"
    hypergradient_fp32: bool = True
    train_head: bool = True
    train_base: bool = False
    lora_dropout: float = 0.0
    log_every: int = 50
    alpha_every: int = 1
    stop_when_stable: int | None = None
    checkpoint_every: int | None = None

    def __post_init__(self):
        for field, choices in CHOICES.items():
            if getattr(self, field) not in choices:
                raise InvalidSetting(field, f"{getattr(self, field)!r} is not one of {list(choices)}")
        object.__setattr__(self, "alpha_betas", tuple(self.alpha_betas))  # a config gives a list
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or self.lr <= 0:
            raise InvalidSetting("lr", f"{self.lr!r} is not a positive number")
        if self.hvp != "finite_difference" and self.fd_dropout == "fresh":
            raise InvalidSetting("fd_dropout", "'fresh' draws new dropout masks for the finite-difference passes; "
                                 f"hvp {self.hvp!r} has none (it replays the training pass's masks)")
        if self.unroll == "optimizer" and self.hypergradient not in OPTIMIZER_UNROLL_MODES:
            raise InvalidSetting("unroll", f"'optimizer' works with hypergradient {list(OPTIMIZER_UNROLL_MODES)}, "
                                 f"not {self.hypergradient!r}")
        if self.unroll == "optimizer" and self.inner_lr_factor:
            raise InvalidSetting("inner_lr_factor", "true scales the sgd unroll's correction by its pseudo-step; "
                                 "unroll 'optimizer' has none")
