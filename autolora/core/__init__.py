"""The method core of AutoLoRA, importable without the pipeline (it imports no pipeline stage):

* ``AutoLoraConfig``: the settings, validated (``config``);
* ``SelectionLoRALinear`` and friends: the selection-LoRA layers, ΔW = (lora_alpha / k) ·
  Σ_j w_j b_j a_jᵀ with w = softmax(α) (``layer``);
* ``inject_selection_lora``, ``lower_level_parameters``, ``selection_parameters``: put them on a
  model and split its parameters into the bilevel problem's two levels (``injection``);
* ``BilevelSearch``: one step of the search, w on a training batch and α on a validation
  batch by the DARTS hypergradient (``bilevel``);
* ``extract_ranks``: the rank rule, #{j : w_j ≥ λ} (``ranks``);
* ``lora_config_for_ranks``: the PEFT ``LoraConfig`` that retrains LoRA at those ranks
  (``lora_config``).
"""

from autolora.core.bilevel import BilevelSearch
from autolora.core.config import AutoLoraConfig
from autolora.core.injection import (
    inject_selection_lora,
    lower_level_parameters,
    selection_modules,
    selection_parameters,
    selection_weights,
)
from autolora.core.layer import SelectionLoRALinear
from autolora.core.lora_config import lora_config_for_ranks
from autolora.core.ranks import extract_ranks

__all__ = [
    "AutoLoraConfig",
    "BilevelSearch",
    "SelectionLoRALinear",
    "extract_ranks",
    "inject_selection_lora",
    "lora_config_for_ranks",
    "lower_level_parameters",
    "selection_modules",
    "selection_parameters",
    "selection_weights",
]
