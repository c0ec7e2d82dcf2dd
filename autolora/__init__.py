"""AutoLoRA (Zhang et al., NAACL 2024): meta-learned LoRA ranks, and the pipeline that replicates
the paper.

The method core's public API (``autolora.core``), importable from here too, loaded on first use
so that ``import autolora`` stays cheap for Snakemake, which imports the config helpers on every
start: ``AutoLoraConfig``, ``inject_selection_lora``, ``lower_level_parameters``,
``selection_parameters``, ``BilevelSearch``, ``extract_ranks``, ``lora_config_for_ranks``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = ("AutoLoraConfig", "BilevelSearch", "extract_ranks", "inject_selection_lora", "lora_config_for_ranks",
           "lower_level_parameters", "selection_parameters")
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'autolora' has no attribute {name!r}")
    return getattr(importlib.import_module("autolora.core"), name)
