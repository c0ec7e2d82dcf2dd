"""AutoLoRA (Zhang et al., NAACL 2024): meta-learned LoRA ranks, and the pipeline that replicates
the paper.

The method's public API, importable from here (loaded on first use, so that ``import autolora``
stays cheap for Snakemake, which imports the config helpers on every start):

* ``inject_selection_lora``: put selection LoRA (ΔW = lora_alpha/k · Σ_j w_j b_j a_jᵀ,
  w = softmax(α)) on a model's target projections;
* ``lower_level_parameters`` / ``selection_parameters``: the LoRA weights and the α;
* ``BilevelSearch``: one DARTS-style step of the bilevel search per call;
* ``extract_ranks``: the rank rule, #{w_j ≥ λ} per matrix.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "BilevelSearch": "autolora.bilevel",
    "inject_selection_lora": "autolora.model",
    "lower_level_parameters": "autolora.model",
    "selection_parameters": "autolora.model",
    "extract_ranks": "autolora.ranks",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'autolora' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
