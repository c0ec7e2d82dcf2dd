"""The no_retrain ablation: the search model itself, evaluated with only the components the
threshold keeps, to measure what retraining with the found ranks adds.

The search job saved its trained selection LoRA (A, B, α) and head (``search_state.safetensors``).
Here the model is rebuilt as the search built it, that state loaded, and every dropped rank-1
component j of a module (weight w_j below λ, w from the same rank form as the ranks stage) zeroed:
row j of lora_A and column j of lora_B. The kept components keep their searched weights w_j.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from autolora.core.injection import head_modules, selection_modules
from autolora.core.ranks import resolved_threshold, selected_components
from autolora.evaluate import score_model
from autolora.model import load_task_model
from autolora.search import inject_search_lora, load_search_state
from autolora.training import seed_everything


def kept_components(alphas: dict[str, list[float]], threshold: float, form: str) -> dict[str, list[bool]]:
    """Per module, which of its k components reach the threshold (the ranks stage's rule)."""
    return {name: selected_components(alpha, threshold, form).tolist() for name, alpha in alphas.items()}


@torch.no_grad()
def zero_dropped_components(model, kept: dict[str, list[bool]]) -> None:
    """Zero row j of lora_A and column j of lora_B of every component j that is not kept."""
    modules = selection_modules(model)
    if set(modules) != set(kept):
        raise ValueError(f"kept components name other modules than the model has: {sorted(set(modules) ^ set(kept))[:4]}")
    for name, module in modules.items():
        dropped = ~torch.tensor(kept[name], device=module.lora_A.device)
        module.lora_A[dropped] = 0.0
        module.lora_B[:, dropped] = 0.0


def kept_parameter_count(model, kept: dict[str, list[bool]]) -> int:
    """What the kept components would cost as plain LoRA: r (in + out) per module."""
    modules = selection_modules(model)
    return sum(sum(kept[name]) * (module.lora_A.shape[1] + module.lora_B.shape[0]) for name, module in modules.items())


def head_parameter_count(model) -> int:
    return sum(p.numel() for name in head_modules(model) for p in model.get_submodule(name).parameters())


def run_no_retrain(tokenized_dir, prepared_dir, search_json, state_path, config: dict, seed: int, out_json,
                   predictions_path) -> dict:
    """Evaluate the search model with its dropped components zeroed; write the metrics record."""
    seed_everything(seed)
    search = json.loads(Path(search_json).read_text())
    model = load_task_model(config)
    inject_search_lora(model, config["search"], config["lora"])
    load_search_state(model, state_path)
    threshold = resolved_threshold(search["k"], config["ranks"]["threshold"])
    kept = kept_components(search["alpha"], threshold, config["ranks"]["form"])
    zero_dropped_components(model, kept)
    log = {
        "ranks": {name: sum(mask) for name, mask in kept.items()},
        "trainable_params": {"lora": kept_parameter_count(model, kept), "head": head_parameter_count(model)},
        "n_train": search["n_search_train"],
    }
    return score_model(model, log, tokenized_dir, prepared_dir, config, seed, out_json, predictions_path,
                       {"threshold": threshold, "form": config["ranks"]["form"]})
