"""Retraining stage: LoRA with the searched ranks, through PEFT, on train + search-validation.

Each module's rank goes into ``LoraConfig(rank_pattern=…)``; lora_alpha stays fixed, so PEFT
scales each module by lora_alpha / r as the official retraining does. Two PEFT pitfalls are
guarded: a pattern that matches nothing (or the wrong module) silently falls back to the default
``r``, so every adapted module's rank is checked after injection; and a rank of 0 is not a LoRA
at all, so such modules are left out of ``target_modules``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch
from datasets import load_from_disk
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from autolora import atomic
from autolora.errors import TrainingError
from autolora.model import head_modules, load_sequence_classifier, load_tokenizer
from autolora.training import (
    check_finite,
    make_loader,
    pick_device,
    seed_everything,
    to_device,
)


def lora_config_for_ranks(
    ranks: dict[str, int], lora_alpha: float, dropout: float, head: tuple[str, ...] = ("classifier",)
) -> LoraConfig:
    """A PEFT config that gives each module exactly its searched rank (0 = not adapted);
    the ``head`` modules train in full and are saved with the adapter."""
    kept = {name: r for name, r in ranks.items() if r > 0}
    if not kept:
        raise TrainingError("every searched rank is 0: nothing left to adapt (lower ranks.threshold?)")
    # Module names are matched as regular expressions by PEFT: escape their dots.
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=max(kept.values()),
        target_modules=list(kept),
        rank_pattern={re.escape(name): r for name, r in kept.items()},
        lora_alpha=lora_alpha,
        lora_dropout=dropout,
        modules_to_save=list(head),
    )


def adapted_ranks(peft_model) -> dict[str, int]:
    """Rank of every LoRA module in a PEFT model, keyed by the base model's module name."""
    from peft.tuners.lora import LoraLayer

    prefix = "base_model.model."
    return {
        name.removeprefix(prefix): module.r["default"]
        for name, module in peft_model.named_modules()
        if isinstance(module, LoraLayer)
    }


def check_ranks(peft_model, ranks: dict[str, int]) -> None:
    expected = {name: r for name, r in ranks.items() if r > 0}
    actual = adapted_ranks(peft_model)
    if actual != expected:
        wrong = sorted(set(actual.items()) ^ set(expected.items()))
        raise TrainingError(f"PEFT did not apply the searched ranks; differing (module, rank): {wrong[:6]}")


def count_trainable(model) -> dict[str, int]:
    """LoRA parameters (the papers' count) and the task head (classifier, pooler), separately."""
    counts = {"lora": 0, "head": 0}
    for name, param in model.named_parameters():
        if param.requires_grad:
            counts["lora" if "lora_" in name else "head"] += param.numel()
    return counts


def build_peft_model(config: dict, ranks: dict[str, int]):
    model = load_sequence_classifier(config["model"]["name"], config["num_labels"])
    head = tuple(sorted({name.rsplit(".", 1)[-1] for name in head_modules(model)}))
    lora_config = lora_config_for_ranks(ranks, config["lora"]["alpha"], config["retrain"]["lora_dropout"], head)
    peft_model = get_peft_model(model, lora_config)
    check_ranks(peft_model, ranks)
    return peft_model


def train_peft(peft_model, train, tokenizer, settings: dict, seed: int, device, task: str) -> list[float]:
    """AdamW with linear warm-up and decay; returns the mean training loss of each epoch."""
    loader = make_loader(train, tokenizer, settings["batch_size"], shuffle=True, seed=seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    total = settings["epochs"] * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings["warmup_ratio"] * total), total)
    peft_model.to(device).train()
    epoch_losses, step = [], 0
    for epoch in range(settings["epochs"]):
        losses = []
        for batch in tqdm(loader, desc=f"retrain {task} seed {seed} epoch {epoch + 1}", mininterval=10):
            loss = peft_model(**to_device(batch, device)).loss
            check_finite(loss.item(), step, "retrain")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
        epoch_losses.append(sum(losses) / len(losses))
    return epoch_losses


def run_retrain(tokenized_dir, ranks_record: dict, config: dict, task: str, seed: int, adapter_dir, log_json) -> dict:
    """Retrain with the searched ranks on the whole training set; save the adapter and a log."""
    seed_everything(seed)
    device = pick_device(config["device"])
    train = load_from_disk(str(tokenized_dir))["train"]
    tokenizer = load_tokenizer(config["model"]["name"])
    peft_model = build_peft_model(config, ranks_record["ranks"])
    started = time.perf_counter()
    epoch_losses = train_peft(peft_model, train, tokenizer, config["retrain"], seed, device, task)
    with atomic.directory(adapter_dir) as staging:
        peft_model.save_pretrained(str(staging))
    record = {
        "task": task,
        "seed": seed,
        "ranks": adapted_ranks(peft_model),
        "trainable_params": count_trainable(peft_model),
        "epoch_losses": epoch_losses,
        "n_train": len(train),
        "seconds": time.perf_counter() - started,
        "device": str(device),
    }
    atomic.write_json(log_json, record)
    return record


def load_adapter(config: dict, adapter_dir: str | Path):
    """The retrained model back from its saved adapter (what evaluation and users load)."""
    base = load_sequence_classifier(config["model"]["name"], config["num_labels"])
    return PeftModel.from_pretrained(base, str(adapter_dir))
