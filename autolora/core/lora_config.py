"""From searched ranks to the retraining's PEFT config (AutoLoRA §3.3: LoRA retrained with the
ranks the search found)."""

from __future__ import annotations

import re

from peft import LoraConfig, TaskType

from autolora.errors import TrainingError


def lora_config_for_ranks(
    ranks: dict[str, int],
    lora_alpha: float,
    dropout: float,
    head: tuple[str, ...] = ("classifier",),
    task_type: TaskType = TaskType.SEQ_CLS,
    bias: str = "none",
) -> LoraConfig:
    """A PEFT config that gives each module exactly its searched rank (0 = not adapted);
    the ``head`` modules (none for a language model) train in full and are saved with the
    adapter; ``bias="all"`` trains every bias of the model as well."""
    kept = {name: r for name, r in ranks.items() if r > 0}
    if not kept:
        raise TrainingError("every searched rank is 0: nothing left to adapt (lower ranks.threshold?)")
    # Module names are matched as regular expressions by PEFT: escape their dots.
    return LoraConfig(
        task_type=task_type,
        r=max(kept.values()),
        target_modules=list(kept),
        rank_pattern={re.escape(name): r for name, r in kept.items()},
        lora_alpha=lora_alpha,
        lora_dropout=dropout,
        modules_to_save=list(head) or None,
        bias=bias,
    )
