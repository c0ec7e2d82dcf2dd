"""Retraining adapters for GPT-2, whose query, key and value share one fused ``c_attn``.

The search gives the query and value thirds of each ``c_attn`` their own ranks (module names
``….c_attn.q`` and ``….c_attn.v``). PEFT can only put one LoRA on the whole fused matrix, so
retraining uses ``autolora.core.layer.SplitQVLoRA`` instead, and saves the adapter in a folder of
two files, beside PEFT's format rather than pretending to be it:

* ``adapter_model.safetensors``: the LoRA tensors, keyed by parameter name in the base model
  (``transformer.h.0.attn.c_attn.q.lora_A`` …);
* ``split_lora_config.json``: ``{"format", "base_model", "lora_alpha", "ranks"}``.

``load_split_adapter(base_model, folder)`` rebuilds the layers from the JSON and loads the
tensors strictly (a missing or extra tensor is an error).
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from autolora.core.layer import SplitQV, SplitQVLoRA
from autolora.errors import TrainingError

CONFIG_FILE = "split_lora_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
FORMAT = "autolora-split-qv/1"
THIRDS = ("q", "v")


def is_split(ranks: dict[str, int]) -> bool:
    """Whether searched ranks name the q/v thirds of fused projections (GPT-2)."""
    return any(name.rsplit(".", 2)[-2:] in (["c_attn", "q"], ["c_attn", "v"]) for name in ranks)


def inject_split_lora(model: nn.Module, ranks: dict[str, int], lora_alpha: float, dropout: float) -> None:
    """Freeze the model and give each fused projection its q and v LoRA of the searched ranks."""
    model.requires_grad_(False)
    fused = {name.rpartition(".")[0] for name in ranks}
    unknown = sorted(name for name in ranks if name.rpartition(".")[2] not in THIRDS)
    if unknown:
        raise TrainingError(f"ranks name modules that are not q/v thirds of a fused c_attn: {unknown[:4]}")
    for name in sorted(fused):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        q_rank, v_rank = (ranks.get(f"{name}.{third}", 0) for third in THIRDS)
        setattr(parent, child, SplitQVLoRA(getattr(parent, child), q_rank, v_rank, lora_alpha, dropout))
    if not any(p.requires_grad for p in model.parameters()):
        raise TrainingError("every searched rank is 0: nothing left to adapt (lower ranks.threshold?)")


def split_ranks(model: nn.Module) -> dict[str, int]:
    """Rank of every q/v update present in the model, keyed by module name."""
    return {
        f"{name}.{third}": getattr(module, third).rank
        for name, module in model.named_modules()
        if isinstance(module, SplitQV)
        for third in THIRDS
        if getattr(module, third) is not None
    }


def save_split_adapter(model: nn.Module, out_dir: str | Path, lora_alpha: float, base_model: str) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    save_file(tensors, str(out_dir / WEIGHTS_FILE))
    config = {"format": FORMAT, "base_model": base_model, "lora_alpha": lora_alpha, "ranks": split_ranks(model)}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def is_split_adapter(adapter_dir: str | Path) -> bool:
    return (Path(adapter_dir) / CONFIG_FILE).is_file()


def load_split_adapter(base_model: nn.Module, adapter_dir: str | Path) -> nn.Module:
    """The base model with the saved q/v LoRA layers, in eval mode."""
    adapter_dir = Path(adapter_dir)
    config = json.loads((adapter_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    if config.get("format") != FORMAT:
        raise TrainingError(f"{adapter_dir / CONFIG_FILE}: format {config.get('format')!r}, expected {FORMAT!r}")
    inject_split_lora(base_model, config["ranks"], config["lora_alpha"], dropout=0.0)
    tensors = load_file(str(adapter_dir / WEIGHTS_FILE))
    expected = {name for name, p in base_model.named_parameters() if p.requires_grad}
    if set(tensors) != expected:
        raise TrainingError(f"{adapter_dir / WEIGHTS_FILE}: tensors differ from the layers its config "
                            f"describes: {sorted(set(tensors) ^ expected)[:4]}")
    base_model.load_state_dict(tensors, strict=False)
    return base_model.eval()
