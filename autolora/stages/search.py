"""Search stage: learn the selection variables α of every adapted matrix by bilevel optimisation.

The task's training set is split (seeded) into a search-train part for the LoRA weights and a
search-validation part for α (70/30 by default, as the official code). The official dev set is
never seen here. The record written at the end holds α, softmax(α) and their trajectory.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from datasets import load_from_disk
from tqdm import tqdm

from autolora.plumbing import atomic
from autolora.config import stage_view
from autolora.plumbing.checkpoint import Checkpointer, EndlessBatches, EpochBatches, checkpoint_folder_for, job_fingerprint
from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import lower_level_parameters, raw_alphas, selection_parameters, selection_weights
from autolora.core.ranks import ranks_unchanged
from autolora.data import split_for_search
from autolora.families import get_family
from autolora.model import inject_search_lora, load_task_model, load_tokenizer, model_source, save_search_state
from autolora.training import (
    autocast,
    bucketing,
    check_finite,
    make_loader,
    pick_device,
    seed_everything,
    to_device,
)

LOWER_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_search(model, settings: SearchSettings, lora: dict) -> tuple[BilevelSearch, list[str]]:
    """Inject selection LoRA and wire both optimisers as the official code does."""
    modules = inject_search_lora(model, settings, lora)
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    lower_optimizer = LOWER_OPTIMIZERS[settings.optimizer](lower.values(), lr=settings.lr,
                                                           weight_decay=settings.weight_decay)
    upper_optimizer = torch.optim.Adam(upper.values(), lr=settings.alpha_lr, betas=settings.alpha_betas,
                                       weight_decay=settings.alpha_weight_decay)
    return BilevelSearch(model, lower, upper, lower_optimizer, upper_optimizer, settings), modules


class Trajectory:
    """softmax(α) of every module and the losses, sampled every ``every`` steps.

    ``step`` s is recorded right after update s (0-based), with that update's losses; the last
    entry, labelled with the number of steps, repeats the final state for plotting.
    """

    def __init__(self, every: int):
        self.every = every
        self.record = {"step": [], "weights": {}, "train_loss": [], "val_loss": []}

    def add(self, step: int, model, train_loss: float, val_loss: float) -> None:
        self.record["step"].append(step)
        self.record["train_loss"].append(train_loss)
        self.record["val_loss"].append(val_loss)
        for name, weights in selection_weights(model).items():
            self.record["weights"].setdefault(name, []).append(weights.tolist())


def is_stable(trajectory: Trajectory, last: int | None) -> bool:
    """``search.stop_when_stable``: whether the logged ranks have settled (never when it is null)."""
    return last is not None and ranks_unchanged(trajectory.record, last)


def search_loop(search: BilevelSearch, train_batches: EpochBatches, val_batches: EndlessBatches,
                settings: SearchSettings,
                checkpoint_folder: str | Path, fingerprint: str, device, precision: str = "auto",
                label: str = "search") -> tuple[Trajectory, int]:
    """The search's steps over ``settings.epochs`` epochs: w every step, α (with a validation
    batch) every ``alpha_every``-th, softmax(α) logged every ``log_every`` steps, an early stop
    under ``stop_when_stable``. Checkpointed (each epoch unless ``checkpoint_every``), so that a
    killed job resumes bit for bit. Returns the trajectory and the number of steps run."""
    model = search.model
    model.train()
    trajectory, last_losses = Trajectory(settings.log_every), {}
    checkpointer = Checkpointer(
        checkpoint_folder, fingerprint, settings.checkpoint_every or len(train_batches),  # default: each epoch
        model,
        stateful={"lower": search.lower_optimizer, "upper": search.upper_optimizer, "val_batches": val_batches},
        extra={"trajectory": trajectory.record, "last_losses": last_losses},
    )
    step = checkpointer.restore()
    stable = is_stable(trajectory, settings.stop_when_stable)  # a resumed search may have stopped
    for epoch in range(step // len(train_batches), settings.epochs):
        if stable:
            break
        progress = tqdm(train_batches.epoch(epoch, resume_from=step), desc=f"{label} epoch {epoch + 1}",
                        mininterval=10)
        for batch in progress:
            # α (and the validation batch it needs) every alpha_every-th step; w every step.
            val_batch = to_device(next(val_batches), device) if step % settings.alpha_every == 0 else None
            with autocast(device, precision):
                losses = search.step(to_device(batch, device), val_batch)
            check_finite(losses.train, step, "search (training loss)")
            if losses.val is not None:
                check_finite(losses.val, step, "search (validation loss)")
                last_losses["val"] = losses.val
            last_losses["train"] = losses.train
            if step % trajectory.every == 0:  # with the latest validation loss measured
                trajectory.add(step, model, losses.train, last_losses["val"])
                stable = is_stable(trajectory, settings.stop_when_stable)
            step += 1
            checkpointer.after_step(step)
            progress.set_postfix(train=f"{losses.train:.3f}", val=f"{last_losses['val']:.3f}", refresh=False)
            if stable:
                print(f"search: every rank unchanged over the last {settings.stop_when_stable} logged "
                      f"steps; stopping after step {step} (search.stop_when_stable)")
                break
    checkpointer.complete(step)  # kept until the run succeeds: a rerun of a finished job only rewrites its outputs
    # From the saved losses: a job resumed after its last update runs none.
    trajectory.add(step, model, last_losses["train"], last_losses["val"])
    return trajectory, step


def run_search(tokenized_dir: str | Path, config: dict, task: str, seed: int, out_json: str | Path,
               state_path: str | Path | None = None) -> dict:
    """Run the bilevel search for one task and seed; write and return its record (and the
    trained search model's state to ``state_path`` when one is given)."""
    atomic.check_writable(out_json)  # now, not after the search
    settings, lora = SearchSettings(**config["search"]), config["lora"]
    seed_everything(seed)
    device = pick_device(config["device"])
    train = load_from_disk(str(tokenized_dir))["train"]
    search_train, search_val = split_for_search(train, settings.val_fraction, seed)
    tokenizer = load_tokenizer(model_source(config["model"]))
    model = load_task_model(config).to(device)
    search, modules = build_search(model, settings, lora)
    collator = get_family(config["family"]).collator
    train_batches = EpochBatches(make_loader(search_train, tokenizer, settings.batch_size, shuffle=True, seed=seed,
                                             collator=collator),
                                 **bucketing(search_train, settings.length_buckets))
    val_batches = EndlessBatches(make_loader(search_val, tokenizer, settings.batch_size, shuffle=True, seed=seed + 1,
                                             collator=collator),
                                 **bucketing(search_val, settings.length_buckets))
    fingerprint = job_fingerprint(stage="search", task=task, seed=seed, config=stage_view(config, "search"),
                                  data=str(tokenized_dir))
    started = time.perf_counter()
    trajectory, step = search_loop(search, train_batches, val_batches, settings, checkpoint_folder_for(out_json),
                                   fingerprint, device, config["precision"], f"search {task} seed {seed}")

    record = {
        "task": task,
        "seed": seed,
        "model": config["model"]["name"],
        "k": lora["max_rank"],
        "modules": modules,
        "alpha": {name: a.tolist() for name, a in raw_alphas(model).items()},
        "weights": {name: w.tolist() for name, w in selection_weights(model).items()},
        "trajectory": trajectory.record,
        "steps": step,
        "steps_planned": settings.epochs * len(train_batches),
        "n_search_train": len(search_train),
        "n_search_val": len(search_val),
        "seconds": time.perf_counter() - started,
        "device": str(device),
        "settings": {"search": config["search"], "lora": lora},
    }
    if state_path is not None:
        save_search_state(model, state_path)
    atomic.write_json(out_json, record)
    return record
