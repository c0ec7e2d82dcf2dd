"""Selection-LoRA injection (AutoLoRA §3.1): put ΔW = (lora_alpha / k) · Σ_j w_j b_j a_jᵀ,
w = softmax(α), on a model's target projections, and split the parameters into the two levels
of the bilevel problem: ``lower_level_parameters`` (LoRA A, B and optionally the task head) and
``selection_parameters`` (α).
"""

from __future__ import annotations

import torch
from torch import nn

from autolora.core.config import AutoLoraConfig
from autolora.core.layer import SelectionLoRA, SelectionLoRALinear, SplitQVSelectionLoRA
from autolora.errors import ConfigError

SELECTION_SUFFIX = "selection_alpha"
# The task head: what a fresh model has to learn beside the adapters. BERT-style classifiers
# read [CLS] through a pooler (dense + tanh) before `classifier`; it belongs to the head just
# as the dense layer inside RoBERTa's `classifier` does. Frozen, a pooler never trained for
# the task (all-MiniLM-L6-v2's: sentence-transformers pool by mean) lets the model learn
# little beyond the class prior.
HEAD_MODULES = ("classifier", "score", "pooler")
# Where autolora.model records the modules whose weights the checkpoint did not provide: a head
# not named above (an extractive-QA ``qa_outputs``, DistilBERT's ``pre_classifier``) is fresh too
# and must learn, or it stays at its random initialisation.
FRESH_MODULES = "autolora_fresh_modules"
_PEFT_PREFIX = "base_model.model."


def inject_selection_lora(model: nn.Module, config: AutoLoraConfig) -> list[str]:
    """Adapt the target modules in place; return the adapted matrices' names in model order.

    A target ``nn.Linear`` (BERT/RoBERTa ``query``/``value``, Llama ``q_proj``/``v_proj``) gets
    one update; GPT-2's fused ``c_attn`` (target ``c_attn``) gets one on its query and one on its
    value third, named ``….c_attn.q`` and ``….c_attn.v``. Everything else is frozen, except the
    task head with ``config.train_head`` and, with ``config.train_base``, every weight but the
    adapted matrices themselves (all part of the lower level).
    """
    model.requires_grad_(config.train_base)  # the wrappers freeze the matrices they adapt
    for name, wrapper in _target_wrappers(model, config.targets).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        try:
            adapted = wrapper(getattr(parent, child), config.max_rank, config.lora_alpha, config.dropout,
                              config.alpha_init)
        except ValueError as error:
            raise ConfigError(f"config key lora.max_rank: {error} ({name})") from None
        setattr(parent, child, adapted)
    names = list(selection_modules(model))
    if config.train_head:
        for name in head_modules(model):
            model.get_submodule(name).requires_grad_(True)
    return names


def target_matrix_names(model: nn.Module, targets: tuple[str, ...]) -> list[str]:
    """The names the search gives the adapted matrices (GPT-2's c_attn as ``….c_attn.q`` and
    ``….c_attn.v``), in model order, without building any adapter: for baselines that put one
    rank on every target module."""
    names = []
    for name, wrapper in _target_wrappers(model, targets).items():
        names += [f"{name}.q", f"{name}.v"] if wrapper is SplitQVSelectionLoRA else [name]
    return names


def _target_wrappers(model: nn.Module, targets: tuple[str, ...]) -> dict[str, type]:
    """The selection-LoRA class each target module gets, keyed by module name, in model order."""
    wrappers = {
        name: wrapper
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in targets and (wrapper := _wrapper_for(name, module)) is not None
    }
    if not wrappers:
        raise ConfigError(f"lora.targets {list(targets)}: no nn.Linear (or GPT-2 c_attn) has such a name")
    return wrappers


def _wrapper_for(name: str, module: nn.Module):
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, nn.Linear):
        return SelectionLoRALinear
    if isinstance(module, Conv1D) and name.endswith("c_attn"):  # GPT-2's fused q, k, v projection
        return SplitQVSelectionLoRA
    return None


def selection_modules(model: nn.Module) -> dict[str, SelectionLoRA]:
    """Every adapted matrix's selection-LoRA update, keyed by module name, in model order."""
    return {name: module for name, module in model.named_modules() if isinstance(module, SelectionLoRA)}


def head_modules(model: nn.Module) -> list[str]:
    """Names of the task-head modules present in the model: those named in ``HEAD_MODULES``
    (classifier, score, pooler) and those the checkpoint did not provide (``FRESH_MODULES``), the
    outermost of each nest."""
    fresh = set(getattr(model, FRESH_MODULES, ()))
    heads = [name for name, _ in model.named_modules()
             if name.rsplit(".", 1)[-1] in HEAD_MODULES or name.removeprefix(_PEFT_PREFIX) in fresh]
    return [name for name in heads if not any(name.startswith(f"{outer}.") for outer in heads)]


def relative_name(name: str) -> str:
    """A module's name in the model PEFT wraps (without ``base_model.model.``)."""
    return name.removeprefix(_PEFT_PREFIX)


def selection_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The upper-level variables α, keyed by parameter name."""
    return {n: p for n, p in model.named_parameters() if n.endswith(SELECTION_SUFFIX)}


def lower_level_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The trainable weights of the lower level: LoRA A, B (and the head when trainable)."""
    return {
        n: p for n, p in model.named_parameters() if p.requires_grad and not n.endswith(SELECTION_SUFFIX)
    }


def selection_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """softmax(α) of every adapted module, keyed by module name."""
    return {name: module.selection_weights().detach() for name, module in selection_modules(model).items()}


def raw_alphas(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: module.selection_alpha.detach() for name, module in selection_modules(model).items()}
