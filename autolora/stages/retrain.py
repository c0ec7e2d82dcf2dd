"""Retraining stage: LoRA with the searched ranks, through PEFT, on train + search-validation.

Each module's rank goes into ``LoraConfig(rank_pattern=…)``; lora_alpha stays fixed, so PEFT
scales each module by lora_alpha / r as the official retraining does. Two PEFT pitfalls are
guarded: a pattern that matches nothing (or the wrong module) silently falls back to the default
``r``, so every adapted module's rank is checked after injection; and a rank of 0 is not a LoRA
at all, so such modules are left out of ``target_modules``.

GPT-2's fused ``c_attn`` gets separate q and v ranks, which PEFT cannot express; its adapters
are built, saved and reloaded by ``autolora.split_adapter`` instead.

The baselines train here too, with the same settings (``retrain`` section), chosen by the job's
``method`` (``autolora.methods``): ``lora_r{r}``, the grid's candidates ``grid_r{r}`` and its
chosen rank ``grid`` are LoRA with uniform ranks (the candidates on the search-train split only,
as their validation score picks the grid's rank; ``grid`` on all of train, like AutoLoRA's
ranks); ``adalora`` is PEFT's AdaLoRA; ``full_ft`` trains every parameter and saves the
whole model (in the same ``adapter`` folder the rules expect).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import torch
from datasets import load_from_disk
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from autolora.plumbing import atomic
from autolora.adapters import adapter_kind
from autolora.plumbing.checkpoint import Checkpointer, EpochBatches, checkpoint_folder_for, job_fingerprint
from autolora.config import deep_merge, stage_view
from autolora.data import split_for_search
from autolora.families import get_family
from autolora.methods import is_grid_run
from autolora.model import load_tokenizer, model_source
from autolora.tasks import get_spec
from autolora.training import (
    autocast,
    bucketing,
    check_finite,
    make_loader,
    pick_device,
    seed_everything,
    to_device,
)


def train_epochs(model, train, tokenizer, settings: dict, seed: int, device, task: str,
                 checkpoint_folder, fingerprint: str, after_update: Callable[[int], None] | None = None,
                 precision: str = "auto", score_epoch: Callable[[], dict] | None = None,
                 collator: Callable | None = None) -> tuple[list[float], list[dict]]:
    """AdamW with linear warm-up and decay, checkpointed (each epoch by default) so that a
    killed job resumes; returns the mean training loss of each epoch and, when ``score_epoch``
    is given, what it returned after each epoch (kept in the checkpoints too). ``after_update(step)``
    runs after each optimizer step while the gradients are still there (AdaLoRA's rank allocation).
    ``collator``: the family's, where it has one (``Family.collator``)."""
    batches = EpochBatches(make_loader(train, tokenizer, settings["batch_size"], shuffle=True, seed=seed,
                                       collator=collator),
                           **bucketing(train, settings.get("length_buckets")))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings["lr"], weight_decay=settings["weight_decay"])
    total = settings["epochs"] * len(batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings["warmup_ratio"] * total), total)
    model.to(device).train()
    step_losses: list[float] = []
    epoch_scores: list[dict] = []
    checkpointer = Checkpointer(checkpoint_folder, fingerprint, settings["checkpoint_every"] or len(batches), model,
                                stateful={"optimizer": optimizer, "scheduler": scheduler},
                                extra={"step_losses": step_losses, "epoch_scores": epoch_scores})
    step = checkpointer.restore()
    for epoch in range(step // len(batches), settings["epochs"]):
        for batch in tqdm(batches.epoch(epoch, resume_from=step), desc=f"retrain {task} seed {seed} epoch {epoch + 1}",
                          mininterval=10):
            with autocast(device, precision):
                loss = model(**to_device(batch, device)).loss
            check_finite(loss.item(), step, "retrain")
            loss.backward()
            optimizer.step()
            scheduler.step()
            if after_update is not None:
                after_update(step)
            optimizer.zero_grad(set_to_none=True)
            step_losses.append(loss.item())
            step += 1
            if score_epoch is not None and step % len(batches) == 0:  # before the epoch's checkpoint
                epoch_scores.append(score_epoch())
                model.train()
            checkpointer.after_step(step)
    checkpointer.complete(step)  # kept until the run succeeds: a rerun of a finished job only rewrites its outputs
    per_epoch = len(batches)
    return [sum(losses) / len(losses)
            for losses in (step_losses[e * per_epoch:(e + 1) * per_epoch] for e in range(settings["epochs"]))], epoch_scores


def dev_scorer(model, tokenizer, tokenized_dir, config: dict, device) -> Callable[[], dict] | None:
    """The dev-set metrics of the model as it is, for ``retrain.eval_every_epoch`` (a family with
    ``per_epoch_dev_scores``: GLUE, as the official GLUE retraining scores it after every epoch);
    None when not asked for. Scoring draws no random numbers, so the training is the same with or
    without it."""
    if not config["retrain"]["eval_every_epoch"]:
        return None
    evaluation = load_from_disk(str(tokenized_dir))["eval"]
    spec, family = get_spec(config["task"]), get_family(config["family"])

    def score() -> dict:
        with autocast(device, config["precision"]):
            return family.score_rows(model, evaluation, tokenizer, config, spec, device)

    return score


def training_rows(tokenized_dir, config: dict, seed: int):
    """The whole training set; a grid candidate and a tuning trial get the search-train split
    only, since the search-validation split scores them (the grid's chosen rank, and a method with
    its chosen settings, then train on all of it)."""
    train = load_from_disk(str(tokenized_dir))["train"]
    if is_grid_run(config["method"]) or "trial" in config:
        return split_for_search(train, config["search"]["val_fraction"], seed)[0]
    return train


def run_retrain(tokenized_dir, ranks_record: dict | None, config: dict, task: str, seed: int, adapter_dir,
                log_json, tuning: dict | None = None) -> dict:
    """Train the job's method on its training rows; save the adapter (the full model for
    full_ft) and a log. ``tuning``: the method's tuning record (``autolora.stages.tuning``), whose chosen
    settings replace the config's."""
    if tuning is not None:
        config = deep_merge(config, tuning["settings"])
    for output in (adapter_dir, log_json):
        atomic.check_writable(output)  # now, not after the training
    seed_everything(seed)
    device = pick_device(config["device"])
    train = training_rows(tokenized_dir, config, seed)
    tokenizer = load_tokenizer(model_source(config["model"]))
    settings = config["retrain"]
    total_steps = settings["epochs"] * math.ceil(len(train) / settings["batch_size"])
    kind = adapter_kind(config["method"])
    model, after_update, extra = kind.build(config, ranks_record, total_steps)
    started = time.perf_counter()
    checkpoints = checkpoint_folder_for(log_json)
    fingerprint = job_fingerprint(stage="retrain", task=task, seed=seed, config=stage_view(config, "retrain"),
                                  ranks=ranks_record and ranks_record["ranks"], data=str(tokenized_dir))
    epoch_losses, epoch_metrics = train_epochs(model, train, tokenizer, settings, seed, device, task, checkpoints,
                                               fingerprint, after_update, config["precision"],
                                               dev_scorer(model, tokenizer, tokenized_dir, config, device),
                                               get_family(config["family"]).collator)
    with atomic.directory(adapter_dir) as staging:
        kind.save(model, staging, config)
    record = {
        "task": task,
        "seed": seed,
        "method": config["method"],
        **({"trial": config["trial"]} if "trial" in config else {}),
        "ranks": kind.trained_ranks(model),
        "trainable_params": kind.trainable_counts(model),
        "epoch_losses": epoch_losses,
        **({"epoch_metrics": epoch_metrics} if epoch_metrics else {}),
        "n_train": len(train),
        "seconds": time.perf_counter() - started,
        "device": str(device),
        **extra,
        # The grid's choice of rank (autolora.stages.grid), carried on to its metrics record.
        **({"grid": ranks_record["grid"]} if ranks_record and "grid" in ranks_record else {}),
        **({"tuning": carried(tuning)} if tuning is not None else {}),
    }
    atomic.write_json(log_json, record)
    return record


def carried(choice: Mapping) -> dict:
    """What a tuned method's retraining and metrics records keep of its tuning record
    (``autolora.stages.tuning``)."""
    return {"seed": choice["seed"], "chosen": choice["chosen"], "settings": choice["settings"],
            "trials": choice["trials"], "metric": choice["metric"],
            **{key: choice[key] for key in ("method", "rounds", "at_limit") if key in choice}}
