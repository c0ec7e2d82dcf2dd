"""The method's settings, as one validated dataclass (cf. PEFT's ``LoraConfig``)."""

from __future__ import annotations

from dataclasses import dataclass

from autolora.core.layer import ALPHA_INITS
from autolora.core.ranks import RANK_FORMS, resolved_threshold


@dataclass(frozen=True)
class AutoLoraConfig:
    """What selection LoRA and the rank rule need; checked when built, naming the bad field.

    Attributes:
        targets: the adapted projections, by the last component of their module names:
            ``query``/``value`` (BERT, RoBERTa: the paper's choice), ``q_proj``/``v_proj``
            (Llama, SmolLM2), ``c_attn`` (GPT-2's fused projection: its q and v thirds).
        max_rank: k, the components of each selection LoRA, so the largest rank a matrix can get.
        lora_alpha: the LoRA scale numerator: ΔW = (lora_alpha / k) · Σ_j w_j b_j a_jᵀ.
        dropout: dropout on each update's input during the search (the official search: 0).
        alpha_init: α at the start, ``ones`` (the official code) or ``zeros``; both give the
            uniform softmax 1/k, they differ only for the ``normalized`` rank form.
        train_head: whether the task head (classifier, pooler) learns with the LoRA weights in
            the lower level, as the official GLUE search does (Betty's optimiser holds every
            parameter that requires grad); false freezes it at its random init.
        train_base: whether every other weight of the model but the adapted matrices learns in the
            lower level too, as in the official BioNLP search (loralib freezes only the adapted
            query/value matrices, and Betty's optimiser takes everything else); False (LoRA and
            the head only) everywhere else.
        threshold: λ of the rank rule, rank = #{j : w_j ≥ λ}; None means 1/k (the paper's).
        rank_form: the weights λ is compared with: ``softmax`` (what the forward pass uses) or
            ``normalized`` (α/Σα on the raw α, the official GLUE script).
    """

    targets: tuple[str, ...] = ("query", "value")
    max_rank: int = 8
    lora_alpha: float = 16.0
    dropout: float = 0.0
    alpha_init: str = "ones"
    train_head: bool = True
    train_base: bool = False
    threshold: float | None = None
    rank_form: str = "softmax"

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        checks = [
            ("targets", bool(self.targets) and all(isinstance(t, str) and t for t in self.targets),
             "a non-empty list of module names"),
            ("max_rank", isinstance(self.max_rank, int) and not isinstance(self.max_rank, bool) and self.max_rank >= 1,
             "an integer ≥ 1"),
            ("lora_alpha", isinstance(self.lora_alpha, (int, float)) and self.lora_alpha > 0, "a positive number"),
            ("dropout", isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1, "in [0, 1)"),
            ("alpha_init", self.alpha_init in ALPHA_INITS, f"one of {ALPHA_INITS}"),
            ("train_head", isinstance(self.train_head, bool), "true or false"),
            ("train_base", isinstance(self.train_base, bool), "true or false"),
            ("threshold", self.threshold is None or (isinstance(self.threshold, (int, float))
                                                     and 0 < self.threshold <= 1), "null or in (0, 1]"),
            ("rank_form", self.rank_form in RANK_FORMS, f"one of {RANK_FORMS}"),
        ]
        for field, valid, expected in checks:
            if not valid:
                raise ValueError(f"AutoLoraConfig.{field}: {getattr(self, field)!r} is not {expected}")

    @property
    def rank_threshold(self) -> float:
        """λ: ``threshold``, or 1/k where it is None."""
        return resolved_threshold(self.max_rank, self.threshold)
