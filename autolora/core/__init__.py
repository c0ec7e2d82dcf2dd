"""The method core of AutoLoRA, importable without the pipeline (it imports no pipeline stage):

* ``AutoLoraConfig``: the settings, validated (``config``); ``SearchSettings``: every
  setting of the search, the hypergradient's switches among them, validated (``settings``;
  imports no torch);
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

import importlib

# Public name -> the submodule that defines it; each is imported on first use, so that the config
# check can read ``autolora.core.settings`` without importing torch.
_HOMES = {
    "AutoLoraConfig": "config",
    "BilevelSearch": "bilevel",
    "SearchSettings": "settings",
    "SelectionLoRALinear": "layer",
    "extract_ranks": "ranks",
    "inject_selection_lora": "injection",
    "lora_config_for_ranks": "lora_config",
    "lower_level_parameters": "injection",
    "selection_modules": "injection",
    "selection_parameters": "injection",
    "selection_weights": "injection",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'autolora.core' has no attribute {name!r}")
    return getattr(importlib.import_module(f"autolora.core.{_HOMES[name]}"), name)
