"""Retraining stage: LoRA with the searched ranks, through PEFT, on train + search-validation.

Each module's rank goes into ``LoraConfig(rank_pattern=…)``; lora_alpha stays fixed, so PEFT
scales each module by lora_alpha / r as the official retraining does. Two PEFT pitfalls are
guarded: a pattern that matches nothing (or the wrong module) silently falls back to the default
``r``, so every adapted module's rank is checked after injection; and a rank of 0 is not a LoRA
at all, so such modules are left out of ``target_modules``.

GPT-2's fused ``c_attn`` gets separate q and v ranks, which PEFT cannot express; its adapters
are built, saved and reloaded by ``autolora.split_adapter`` instead.
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

from autolora import atomic, split_adapter
from autolora.checkpoint import Checkpointer, EpochBatches, checkpoint_folder_for, job_fingerprint, remove_checkpoints
from autolora.errors import TrainingError
from autolora.model import head_modules, load_task_model, load_tokenizer, model_source
from autolora.training import (
    check_finite,
    make_loader,
    pick_device,
    seed_everything,
    to_device,
)


PEFT_TASK_TYPES = {"glue": TaskType.SEQ_CLS, "ner": TaskType.TOKEN_CLS, "nlg": TaskType.CAUSAL_LM}


def lora_config_for_ranks(
    ranks: dict[str, int],
    lora_alpha: float,
    dropout: float,
    head: tuple[str, ...] = ("classifier",),
    task_type: TaskType = TaskType.SEQ_CLS,
) -> LoraConfig:
    """A PEFT config that gives each module exactly its searched rank (0 = not adapted);
    the ``head`` modules (none for a language model) train in full and are saved with the
    adapter."""
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
    )


def adapted_ranks(model) -> dict[str, int]:
    """Rank of every LoRA module in a PEFT (or split-q/v) model, keyed by the base model's
    module name."""
    from peft.tuners.lora import LoraLayer

    if not isinstance(model, PeftModel):
        return split_adapter.split_ranks(model)
    peft_model, prefix = model, "base_model.model."
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


def build_lora_model(config: dict, ranks: dict[str, int]):
    """The task's pretrained model with LoRA of exactly the searched ranks on it."""
    model = load_task_model(config)
    alpha, dropout = config["lora"]["alpha"], config["retrain"]["lora_dropout"]
    if split_adapter.is_split(ranks):
        split_adapter.inject_split_lora(model, ranks, alpha, dropout)
    else:
        head = tuple(sorted({name.rsplit(".", 1)[-1] for name in head_modules(model)}))
        model = get_peft_model(model, lora_config_for_ranks(ranks, alpha, dropout, head,
                                                            PEFT_TASK_TYPES[config["family"]]))
    check_ranks(model, ranks)
    return model


def save_adapter(model, out_dir, config: dict) -> None:
    if isinstance(model, PeftModel):
        model.save_pretrained(str(out_dir))
    else:
        split_adapter.save_split_adapter(model, out_dir, config["lora"]["alpha"], config["model"]["name"])


def train_lora(model, train, tokenizer, settings: dict, seed: int, device, task: str,
               checkpoint_folder, fingerprint: str) -> list[float]:
    """AdamW with linear warm-up and decay, checkpointed (each epoch by default) so that a
    killed job resumes; returns the mean training loss of each epoch."""
    batches = EpochBatches(make_loader(train, tokenizer, settings["batch_size"], shuffle=True, seed=seed))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    total = settings["epochs"] * len(batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings["warmup_ratio"] * total), total)
    model.to(device).train()
    step_losses: list[float] = []
    checkpointer = Checkpointer(checkpoint_folder, fingerprint, settings["checkpoint_every"] or len(batches), model,
                                stateful={"optimizer": optimizer, "scheduler": scheduler},
                                extra={"step_losses": step_losses})
    step = checkpointer.restore()
    for epoch in range(step // len(batches), settings["epochs"]):
        for batch in tqdm(batches.epoch(epoch, resume_from=step), desc=f"retrain {task} seed {seed} epoch {epoch + 1}",
                          mininterval=10):
            loss = model(**to_device(batch, device)).loss
            check_finite(loss.item(), step, "retrain")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step_losses.append(loss.item())
            step += 1
            checkpointer.after_step(step)
    per_epoch = len(batches)
    return [sum(losses) / len(losses)
            for losses in (step_losses[e * per_epoch:(e + 1) * per_epoch] for e in range(settings["epochs"]))]


def run_retrain(tokenized_dir, ranks_record: dict, config: dict, task: str, seed: int, adapter_dir, log_json) -> dict:
    """Retrain with the searched ranks on the whole training set; save the adapter and a log."""
    seed_everything(seed)
    device = pick_device(config["device"])
    train = load_from_disk(str(tokenized_dir))["train"]
    tokenizer = load_tokenizer(model_source(config["model"]))
    model = build_lora_model(config, ranks_record["ranks"])
    started = time.perf_counter()
    checkpoints = checkpoint_folder_for(log_json)
    fingerprint = job_fingerprint(stage="retrain", task=task, seed=seed, config=config,
                                  ranks=ranks_record["ranks"], data=str(tokenized_dir))
    epoch_losses = train_lora(model, train, tokenizer, config["retrain"], seed, device, task, checkpoints, fingerprint)
    with atomic.directory(adapter_dir) as staging:
        save_adapter(model, staging, config)
    record = {
        "task": task,
        "seed": seed,
        "ranks": adapted_ranks(model),
        "trainable_params": count_trainable(model),
        "epoch_losses": epoch_losses,
        "n_train": len(train),
        "seconds": time.perf_counter() - started,
        "device": str(device),
    }
    atomic.write_json(log_json, record)
    remove_checkpoints(checkpoints)
    return record


def load_adapter(config: dict, adapter_dir: str | Path):
    """The retrained model back from its saved adapter (what evaluation and users load)."""
    base = load_task_model(config)
    if split_adapter.is_split_adapter(adapter_dir):
        return split_adapter.load_split_adapter(base, adapter_dir)
    return PeftModel.from_pretrained(base, str(adapter_dir))
