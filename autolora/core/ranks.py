"""Rank extraction (AutoLoRA §3.3): rank of a matrix = #{j : w_j ≥ λ}, λ = 1/k by default.

w is softmax(α) (the form the forward pass uses; the official BioNLP and PEFT-based search
scripts) or α/Σα on the raw α (the official GLUE script). With softmax the weights sum to one,
so at least one reaches 1/k and the rank is between 1 and k; α/Σα and other thresholds can give
0, which ``autolora.stages.retrain`` turns into "not adapted".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

RANK_FORMS = ("softmax", "normalized")


def selection_weights(alpha: Sequence[float], form: str = "softmax") -> torch.Tensor:
    """The weights the threshold is compared with, in float64 so that a uniform softmax
    is exactly 1/k and ties at the threshold are not decided by rounding."""
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    if form == "softmax":
        return torch.softmax(alpha, dim=-1)
    if form == "normalized":
        total = alpha.sum()
        if total == 0:
            raise ValueError("rank form 'normalized' (α/Σα) is undefined when Σα = 0")
        return alpha / total
    raise ValueError(f"ranks.form must be one of {RANK_FORMS}, got {form!r}")


def default_threshold(max_rank: int) -> float:
    return 1.0 / max_rank


def resolved_threshold(max_rank: int, threshold: float | None) -> float:
    """λ: the configured ``ranks.threshold``, or 1/k where it is null."""
    return default_threshold(max_rank) if threshold is None else threshold


# softmax(0) over k entries may land a rounding error below 1/k; a uniform weight must still
# count as selected.
_SELECTION_TOLERANCE = 1e-9


def effective_rank(weights) -> np.ndarray:
    """#{w_j ≥ 1/k} over the last axis of logged softmax(α) weights: the rank the default
    threshold would pick at that point (trajectories, diagnostics, the stopping rule)."""
    weights = np.asarray(weights, dtype=float)
    return (weights >= 1 / weights.shape[-1] - _SELECTION_TOLERANCE).sum(axis=-1)


def ranks_unchanged(trajectory: Mapping, last: int) -> bool:
    """Whether no module's effective rank changed over the ``last`` logged steps (a search
    trajectory record: ``weights`` per module, one entry per logged step)."""
    histories = list(trajectory["weights"].values())
    if not histories or len(histories[0]) <= last:
        return False
    return all(len(set(effective_rank(history[-(last + 1):]).tolist())) == 1 for history in histories)


def selected_components(alpha: Sequence[float], threshold: float, form: str = "softmax") -> torch.Tensor:
    """The rank rule: which of a matrix's k components reach λ (w_j ≥ λ), a bool per component."""
    if not 0 < threshold <= 1:
        raise ValueError(f"ranks.threshold must be in (0, 1], got {threshold}")
    return selection_weights(alpha, form) >= threshold


def extract_rank(alpha: Sequence[float], threshold: float, form: str = "softmax") -> int:
    return int(selected_components(alpha, threshold, form).sum())


def extract_ranks(alphas: Mapping[str, Sequence[float]], threshold: float, form: str = "softmax") -> dict[str, int]:
    """Rank of every adapted module, keyed by module name, in the given order."""
    return {name: extract_rank(alpha, threshold, form) for name, alpha in alphas.items()}
