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
from collections.abc import Callable

import numpy as np
import torch
from datasets import load_from_disk
from peft import AdaLoraConfig, PeftModel, TaskType, get_peft_model
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from autolora import atomic, split_adapter
from autolora.adapters import save_adapter
from autolora.checkpoint import Checkpointer, EpochBatches, checkpoint_folder_for, job_fingerprint
from autolora.config import deep_merge, stage_view
from autolora.core.injection import head_modules, target_matrix_names
from autolora.core.lora_config import lora_config_for_ranks
from autolora.errors import ConfigError, TrainingError
from autolora.methods import (
    ADALORA_TRAINING,
    FULL,
    adalora_settings,
    is_grid_run,
    training_of,
)
from autolora.metrics import glue_metrics
from autolora.model import load_task_model, load_tokenizer, model_source
from autolora.tasks import get_spec
from autolora.tuning import carried
from autolora.training import (
    autocast,
    bucketing,
    check_finite,
    make_loader,
    pick_device,
    predict,
    seed_everything,
    split_for_search,
    to_device,
)


PEFT_TASK_TYPES = {"glue": TaskType.SEQ_CLS, "ner": TaskType.TOKEN_CLS, "nlg": TaskType.CAUSAL_LM}


def adapted_ranks(model) -> dict[str, int]:
    """Rank of every LoRA module in a PEFT (or split-q/v) model, keyed by the base model's
    module name."""
    from peft.tuners.lora import LoraLayer

    if not isinstance(model, PeftModel):
        return split_adapter.split_ranks(model)
    return {
        name.removeprefix("base_model.model."): module.r["default"]
        for name, module in model.named_modules()
        if isinstance(module, LoraLayer)
    }


def check_ranks(peft_model, ranks: dict[str, int]) -> None:
    expected = {name: r for name, r in ranks.items() if r > 0}
    actual = adapted_ranks(peft_model)
    if actual != expected:
        wrong = sorted(set(actual.items()) ^ set(expected.items()))
        raise TrainingError(f"PEFT did not apply the searched ranks; differing (module, rank): {wrong[:6]}")


def adalora_kept_ranks(model) -> dict[str, int]:
    """The ranks AdaLoRA kept per module: its final rank pattern, or where the schedule has not
    fixed one, the singular values its masks left non-zero."""
    from peft.tuners.adalora import AdaLoraLayer

    pattern = model.peft_config["default"].rank_pattern
    if pattern:
        return {_adalora_module_name(name): int(sum(kept)) for name, kept in pattern.items()}
    return {name.removeprefix("base_model.model."): int((module.lora_E["default"] != 0).sum())
            for name, module in model.named_modules() if isinstance(module, AdaLoraLayer)}


def _adalora_module_name(parameter: str) -> str:
    return parameter.removeprefix("base_model.model.").removesuffix(".default").removesuffix(".lora_E")


def count_trainable(model) -> dict[str, int]:
    """LoRA parameters (the papers' count), the task head (classifier, pooler) and, with
    ``retrain.lora_bias: all``, the model's other biases, separately; anything else trainable
    (full fine-tuning) counts as ``other``."""
    head = tuple(head_modules(model))
    counts = {"lora": 0, "head": 0, "bias": 0, "other": 0}
    for name, param in model.named_parameters():
        if param.requires_grad:
            counts[_parameter_kind(name, head)] += param.numel()
    return counts


def _parameter_kind(name: str, head: tuple[str, ...]) -> str:
    if "lora_" in name:
        return "lora"
    # PEFT names the head's trained copy ``….classifier.modules_to_save.default.weight``.
    if any(f".{module}." in f".{name}" for module in head):
        return "head"
    return "bias" if name.endswith(".bias") else "other"


def build_lora_model(config: dict, ranks: dict[str, int]):
    """The task's pretrained model with LoRA of exactly the searched ranks on it."""
    model = load_task_model(config)
    alpha, dropout, bias = config["lora"]["alpha"], config["retrain"]["lora_dropout"], config["retrain"]["lora_bias"]
    if split_adapter.is_split(ranks):
        if bias != "none":
            raise ConfigError(f"config key retrain.lora_bias: {bias!r} is not implemented for GPT-2's split q/v "
                              f"adapters (task {config['task']}); use none")
        split_adapter.inject_split_lora(model, ranks, alpha, dropout)
    else:
        head = tuple(sorted({name.rsplit(".", 1)[-1] for name in head_modules(model)}))
        model = get_peft_model(model, lora_config_for_ranks(ranks, alpha, dropout, head,
                                                            PEFT_TASK_TYPES[config["family"]], bias))
    check_ranks(model, ranks)
    return model


def adalora_budget(autolora_total_rank: int, n_modules: int, max_rank: int) -> int:
    """AdaLoRA's total rank budget: exactly AutoLoRA's learned total rank, except where AutoLoRA
    kept every rank (n·k): PEFT prunes from k per module and cannot prune to its own start, so the
    budget is then n·k − 1, one rank short (``retrain.json`` records both totals)."""
    if max_rank < 2:
        raise ConfigError("config key lora.max_rank: adalora needs k >= 2 (its initial rank is k, "
                          "its budget below it)")
    if autolora_total_rank < n_modules:
        raise TrainingError(f"AutoLoRA's total rank {autolora_total_rank} is below one rank for each of AdaLoRA's "
                            f"{n_modules} modules")
    return min(autolora_total_rank, n_modules * max_rank - 1)


def adalora_schedule(total_steps: int, settings: dict) -> dict:
    """PEFT's tinit, tfinal (at least one step, so the final rank pattern gets fixed), deltaT
    (at least one step), total_step and orth_reg_weight from the shares of ``adalora_settings``."""
    tinit = round(settings["tinit"] * total_steps)
    tfinal = max(1, round(settings["tfinal"] * total_steps))
    if tinit >= total_steps - tfinal:
        raise ConfigError(f"config keys adalora.tinit/tfinal, retrain.epochs: {total_steps} training steps leave "
                          "AdaLoRA no pruning phase; train longer or warm up for a smaller share")
    return {"tinit": tinit, "tfinal": tfinal, "deltaT": max(1, round(settings["mask_interval"] * total_steps)),
            "total_step": total_steps, "orth_reg_weight": settings["orth_reg_weight"]}


def build_adalora_model(config: dict, autolora_ranks: dict, total_steps: int):
    """The task's model with AdaLoRA on the target modules, and the budget it was given: from
    AutoLoRA's ranks record of the same task and seed (its exact total rank, and k of its search).
    PEFT's AdaLoraConfig takes an average rank per module (target_r) and prunes to target_r · n;
    its rank allocator's total is set to AutoLoRA's total itself, which need not be a multiple of n."""
    model = load_task_model(config)
    lora, k = config["lora"], autolora_ranks["k"]
    n_modules = len(target_matrix_names(model, tuple(lora["targets"])))
    total_budget = adalora_budget(autolora_ranks["total_rank"], n_modules, k)
    schedule = {"init_r": k, "target_r": max(1, total_budget // n_modules),
                **adalora_schedule(total_steps, adalora_settings(config))}
    head = tuple(sorted({name.rsplit(".", 1)[-1] for name in head_modules(model)}))
    adalora = AdaLoraConfig(task_type=PEFT_TASK_TYPES[config["family"]], target_modules=list(lora["targets"]),
                            lora_alpha=lora["alpha"], lora_dropout=config["retrain"]["lora_dropout"],
                            bias=config["retrain"]["lora_bias"], modules_to_save=list(head) or None, **schedule)
    model = get_peft_model(model, adalora)
    allocator = model.base_model.rankallocator
    if len(allocator.name_set) != n_modules:
        raise TrainingError(f"AdaLoRA adapted {len(allocator.name_set)} modules, the targets name {n_modules}")
    allocator.target_bgt = total_budget
    return model, {"autolora_total_rank": autolora_ranks["total_rank"], "total_budget": total_budget, **schedule}


def build_full_model(config: dict):
    """The task's model with every parameter trainable (full fine-tuning)."""
    return load_task_model(config).requires_grad_(True)


def train_lora(model, train, tokenizer, settings: dict, seed: int, device, task: str,
               checkpoint_folder, fingerprint: str, after_update: Callable[[int], None] | None = None,
               precision: str = "auto", score_epoch: Callable[[], dict] | None = None
               ) -> tuple[list[float], list[dict]]:
    """AdamW with linear warm-up and decay, checkpointed (each epoch by default) so that a
    killed job resumes; returns the mean training loss of each epoch and, when ``score_epoch``
    is given, what it returned after each epoch (kept in the checkpoints too). ``after_update(step)``
    runs after each optimizer step while the gradients are still there (AdaLoRA's rank allocation)."""
    batches = EpochBatches(make_loader(train, tokenizer, settings["batch_size"], shuffle=True, seed=seed),
                           **bucketing(train, settings))
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
    """The dev-set metrics of the model as it is, for ``retrain.eval_every_epoch`` (GLUE, as the
    official GLUE retraining scores it after every epoch); None when not asked for. Scoring draws
    no random numbers, so the training is the same with or without it."""
    if not config["retrain"]["eval_every_epoch"]:
        return None
    evaluation = load_from_disk(str(tokenized_dir))["eval"]
    labels = np.asarray(evaluation["labels"])

    def score() -> dict:
        with autocast(device, config["precision"]):
            predictions = predict(model, evaluation, tokenizer, config["retrain"]["eval_batch_size"], device,
                                  is_regression=config["num_labels"] == 1)
        return glue_metrics(get_spec(config["task"]).metric_config, predictions, labels)

    return score


def training_rows(tokenized_dir, config: dict, seed: int):
    """The whole training set; a grid candidate gets the search-train split only, since the
    search-validation split scores it (the grid's chosen rank then trains on all of it)."""
    train = load_from_disk(str(tokenized_dir))["train"]
    if is_grid_run(config["method"]):
        return split_for_search(train, config["search"]["val_fraction"], seed)[0]
    return train


def build_method_model(config: dict, ranks_record: dict | None, total_steps: int):
    """(model, what to run after each update, what to record) for the job's method; the ranks
    record is the method's own, or AutoLoRA's for adalora (its budget)."""
    if training_of(config["method"]) == ADALORA_TRAINING:
        model, budget = build_adalora_model(config, ranks_record, total_steps)
        return model, model.base_model.update_and_allocate, {"adalora": budget}
    if training_of(config["method"]) == FULL:
        return build_full_model(config), None, {}
    return build_lora_model(config, ranks_record["ranks"]), None, {}


def trained_ranks(model, config: dict) -> dict[str, int]:
    if training_of(config["method"]) == ADALORA_TRAINING:
        return adalora_kept_ranks(model)
    if training_of(config["method"]) == FULL:
        return {}
    return adapted_ranks(model)


def trainable_counts(model, config: dict) -> dict[str, int]:
    """LoRA, head and bias parameters; for full fine-tuning ``all`` as well, the count it reports."""
    counts = count_trainable(model)
    if training_of(config["method"]) == FULL:
        counts["all"] = sum(counts.values())
    return counts


def run_retrain(tokenized_dir, ranks_record: dict | None, config: dict, task: str, seed: int, adapter_dir,
                log_json, tuning: dict | None = None) -> dict:
    """Train the job's method on its training rows; save the adapter (the full model for
    full_ft) and a log. ``tuning``: the method's tuning record (``autolora.tuning``), whose chosen
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
    model, after_update, extra = build_method_model(config, ranks_record, total_steps)
    started = time.perf_counter()
    checkpoints = checkpoint_folder_for(log_json)
    fingerprint = job_fingerprint(stage="retrain", task=task, seed=seed, config=stage_view(config, "retrain"),
                                  ranks=ranks_record and ranks_record["ranks"], data=str(tokenized_dir))
    epoch_losses, epoch_metrics = train_lora(model, train, tokenizer, settings, seed, device, task, checkpoints,
                                             fingerprint, after_update, config["precision"],
                                             dev_scorer(model, tokenizer, tokenized_dir, config, device))
    with atomic.directory(adapter_dir) as staging:
        save_adapter(model, staging, config)
    record = {
        "task": task,
        "seed": seed,
        "method": config["method"],
        "ranks": trained_ranks(model, config),
        "trainable_params": trainable_counts(model, config),
        "epoch_losses": epoch_losses,
        **({"epoch_metrics": epoch_metrics} if epoch_metrics else {}),
        "n_train": len(train),
        "seconds": time.perf_counter() - started,
        "device": str(device),
        **extra,
        # The grid's choice of rank (autolora.grid), carried on to its metrics record.
        **({"grid": ranks_record["grid"]} if ranks_record and "grid" in ranks_record else {}),
        **({"tuning": carried(tuning)} if tuning is not None else {}),
    }
    atomic.write_json(log_json, record)
    return record
