"""What retraining saves and evaluation loads: a PEFT adapter (target modules in a fixed order,
so that equal runs give equal bytes), a split q/v adapter for GPT-2's fused projection
(``autolora.split_adapter``), or for full fine-tuning the whole model."""

from __future__ import annotations

import json
from pathlib import Path

from peft import PeftModel

from autolora import split_adapter
from autolora.methods import FULL, training_of
from autolora.model import load_task_model


def save_adapter(model, out_dir, config: dict) -> None:
    if isinstance(model, PeftModel) or training_of(config["method"]) == FULL:
        model.save_pretrained(str(out_dir))
        sort_target_modules(Path(out_dir) / "adapter_config.json")
    else:
        split_adapter.save_split_adapter(model, out_dir, config["lora"]["alpha"], config["model"]["name"])


def sort_target_modules(adapter_config: Path) -> None:
    """PEFT writes ``target_modules`` from a set, in a different order each run: sorted, two
    runs with the same seed give byte-identical adapters."""
    if not adapter_config.exists():  # full fine-tuning saves a model, not an adapter
        return
    settings = json.loads(adapter_config.read_text())
    if isinstance(settings.get("target_modules"), list):
        settings["target_modules"] = sorted(settings["target_modules"])
        adapter_config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def load_adapter(config: dict, adapter_dir: str | Path):
    """The retrained model back from its saved adapter (what evaluation and users load); for
    full fine-tuning, the saved model itself."""
    if training_of(config["method"]) == FULL:
        return load_task_model({**config, "model": {**config["model"], "converted": str(adapter_dir)}})
    base = load_task_model(config)
    if split_adapter.is_split_adapter(adapter_dir):
        return split_adapter.load_split_adapter(base, adapter_dir)
    return PeftModel.from_pretrained(base, str(adapter_dir))
