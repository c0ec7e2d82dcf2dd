"""LoRA with selection variables (AutoLoRA, Eq. 1–2).

A frozen linear map W0 gets a low-rank update of at most ``k`` rank-1 components

    h = W0 x + (lora_alpha / k) · Σ_j w_j · b_j a_jᵀ x,     w = softmax(α),

where a_j is row j of A (k × in), b_j column j of B (out × k) and α ∈ R^k are the
*selection variables* of this matrix. The paper writes the update with α_j directly; the
official code puts the softmax over the k entries inside the forward pass, and so do we, so
the weights are positive and sum to one. Rank extraction (``autolora.stages.ranks``) later keeps the
components whose weight reaches a threshold λ.

A is Kaiming-uniform and B zero, as in LoRA, so training starts from the pretrained model.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ALPHA_INITS = ("ones", "zeros")


class LoRA(nn.Module):
    """A plain LoRA update of fixed rank r, (lora_alpha / r) · B A x, as PEFT computes it: what
    retraining puts on GPT-2's query and value thirds (PEFT cannot split a fused c_attn).
    A is Kaiming-uniform(a=√5) and B zero, as in LoRA and PEFT."""

    # Its trained parameters, declared under PEFT's attribute name so that one rule counts the
    # adapter parameters of PEFT's layers and of ours (autolora.adapters.adapter_parameter_names).
    adapter_layer_names = ("lora_A", "lora_B")

    def __init__(self, in_features: int, out_features: int, rank: int, lora_alpha: float,
                 dropout: float = 0.0, **factory):
        super().__init__()
        if rank <= 0:
            raise ValueError(f"rank must be positive, got {rank}")
        self.rank = rank
        self.scaling = lora_alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def update(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B) * self.scaling

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scaling={self.scaling:g}"


class SelectionLoRA(LoRA):
    """The update alone, (lora_alpha / k) · Σ_j w_j b_j a_jᵀ x, for an in → out linear map:
    a rank-k LoRA whose k components are weighted by w = softmax(α)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_rank: int,
        lora_alpha: float,
        dropout: float = 0.0,
        alpha_init: str = "ones",
        **factory,
    ):
        if max_rank <= 0:
            raise ValueError(f"max_rank must be positive, got {max_rank}")
        if max_rank > min(in_features, out_features):
            # A rank above the matrix's smaller side adds nothing but memory (k = 10⁶ asks for GBs).
            raise ValueError(f"max_rank {max_rank} exceeds the smaller dimension of the "
                             f"{out_features}×{in_features} matrix")
        if alpha_init not in ALPHA_INITS:
            raise ValueError(f"alpha_init must be one of {ALPHA_INITS}, got {alpha_init!r}")
        super().__init__(in_features, out_features, max_rank, lora_alpha, dropout, **factory)
        # Both inits give the uniform softmax 1/k; they differ only for the α/Σα rank form.
        fill = 1.0 if alpha_init == "ones" else 0.0
        self.selection_alpha = nn.Parameter(torch.full((max_rank,), fill, **factory))

    @property
    def max_rank(self) -> int:
        return self.rank

    def selection_weights(self) -> torch.Tensor:
        """w = softmax(α): the weight of each rank-1 component."""
        return torch.softmax(self.selection_alpha, dim=-1)

    def update(self, x: torch.Tensor) -> torch.Tensor:
        # (x Aᵀ) ⊙ w scales each rank-1 component before B maps it back: Σ_j w_j b_j a_jᵀ x.
        low_rank = F.linear(self.lora_dropout(x), self.lora_A) * self.selection_weights()
        return F.linear(low_rank, self.lora_B) * self.scaling

    def extra_repr(self) -> str:
        return f"max_rank={self.max_rank}, scaling={self.scaling:g}"


class SelectionLoRALinear(SelectionLoRA):
    """Wraps a frozen ``nn.Linear`` with a rank-``k`` LoRA update weighted by softmax(α)."""

    def __init__(self, base: nn.Linear, max_rank: int, lora_alpha: float, dropout: float = 0.0, alpha_init: str = "ones"):
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        super().__init__(base.in_features, base.out_features, max_rank, lora_alpha, dropout, alpha_init, **factory)
        self.base = base.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The update first: CPU GEMMs may round differently when allocations move, and this
        # order reproduces the committed results bit for bit.
        update = self.update(x)
        return self.base(x) + update


class SplitQV(nn.Module):
    """GPT-2's fused attention projection ``c_attn`` (a Conv1D, x W + b with W of shape
    in × 3h) with separate updates on its query and value thirds, each with its own rank, as
    the LoRA paper adapts GPT-2 (PEFT would put one LoRA on all of c_attn). The key third stays
    as it was. The updates are the child modules ``q`` and ``v``; either may be absent (rank 0).
    """

    def __init__(self, base: nn.Module, q: nn.Module | None, v: nn.Module | None):
        super().__init__()
        self.hidden = split_sizes(base)[1]
        self.base = base.requires_grad_(False)
        self.q, self.v = q, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.base(x).split(self.hidden, dim=-1)
        if self.q is not None:
            query = query + self.q.update(x)
        if self.v is not None:
            value = value + self.v.update(x)
        return torch.cat([query, key, value], dim=-1)


def split_sizes(base: nn.Module) -> tuple[int, int]:
    """(input size, hidden size) of a fused q/k/v Conv1D."""
    in_features, fused = base.weight.shape
    if fused % 3:
        raise ValueError(f"c_attn output size {fused} is not 3 × hidden")
    return in_features, fused // 3


class SplitQVSelectionLoRA(SplitQV):
    """``SplitQV`` with a selection-LoRA update on both thirds (the search)."""

    def __init__(self, base: nn.Module, max_rank: int, lora_alpha: float, dropout: float = 0.0, alpha_init: str = "ones"):
        in_features, hidden = split_sizes(base)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        super().__init__(
            base,
            SelectionLoRA(in_features, hidden, max_rank, lora_alpha, dropout, alpha_init, **factory),
            SelectionLoRA(in_features, hidden, max_rank, lora_alpha, dropout, alpha_init, **factory),
        )


class SplitQVLoRA(SplitQV):
    """``SplitQV`` with plain LoRA of the searched ranks (retraining); rank 0 adds nothing."""

    def __init__(self, base: nn.Module, q_rank: int, v_rank: int, lora_alpha: float, dropout: float = 0.0):
        in_features, hidden = split_sizes(base)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}

        def update(rank):
            return LoRA(in_features, hidden, rank, lora_alpha, dropout, **factory) if rank > 0 else None

        super().__init__(base, update(q_rank), update(v_rank))
