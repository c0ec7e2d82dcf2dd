"""Evaluation stage: load the saved adapter, predict the evaluation split, score it.

Loading through the saved adapter (not the in-memory model of the retraining job) means every
reported number comes from the adapter a user would download. How a split is predicted and
scored is the task family's (``Family.evaluate``, ``autolora.families``): GLUE's class or score
per example, NER's tag per word, data-to-text's beam search per record.

Every metric is computed through the package's Hugging Face ``evaluate`` modules
(``autolora/evaluate_modules/<name>/``, loaded offline by ``autolora.metrics.load_metric``), so
that the pipeline's numbers and a user's ``evaluate.load`` of the same folder come from the same
code.

Every example of the evaluation split is scored; the predictions file holds one line per
example (GLUE), sentence (NER) or record (data-to-text), in split order. The no_retrain ablation
scores the search model itself the same way (``run_no_retrain``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from autolora.plumbing import atomic
from autolora.adapters import load_adapter
from autolora.core.injection import head_modules, selection_modules
from autolora.core.ranks import resolved_threshold, selected_components
from autolora.core.settings import SearchSettings
from autolora.data import read_provenance
from autolora.families import get_family
from autolora.model import inject_search_lora, load_search_state, load_task_model, load_tokenizer, model_source
from autolora.plumbing.provenance import code_version
from autolora.tasks import get_spec
from autolora.training import autocast, pick_device, seed_everything


def run_evaluate(tokenized_dir, prepared_dir, adapter_dir, retrain_log, config, task, seed, out_json, predictions_path,
                 extra: dict | None = None) -> dict:
    """Score the saved adapter (or full model) of one job; ``extra`` goes into its record."""
    model = load_adapter(config, adapter_dir)
    log = json.loads(Path(retrain_log).read_text())
    return score_model(model, log, tokenized_dir, prepared_dir, config, seed, out_json, predictions_path, extra)


def reported_params(trainable: dict) -> int:
    """The papers' count: the adapter's parameters (LoRA, and the biases where
    ``retrain.lora_bias: all`` trains them), or every parameter for full fine-tuning."""
    return trainable.get("all", trainable["lora"] + trainable.get("bias", 0))


def best_epoch(epoch_metrics: list[dict], main_metric: str) -> dict:
    """The retraining epoch with the best dev score (1-based; ties: the earlier) and its metrics:
    what the official GLUE script reports, optimistic since the epoch is chosen on the dev set."""
    index = max(range(len(epoch_metrics)), key=lambda i: (epoch_metrics[i][main_metric], -i))
    return {"epoch": index + 1, "metrics": epoch_metrics[index]}


def score_model(model, log: dict, tokenized_dir, prepared_dir, config, seed, out_json, predictions_path,
                extra: dict | None = None) -> dict:
    """Evaluate ``model`` with the family's evaluator; write the predictions and the metrics
    record (``log``: what training recorded, i.e. ranks, trainable_params and n_train)."""
    task, device = config["task"], pick_device(config["device"])
    spec, family = get_spec(task), get_family(config["family"])
    provenance = read_provenance(prepared_dir)
    tokenizer = load_tokenizer(model_source(config["model"]))
    with autocast(device, config["precision"]):
        metrics, lines = family.evaluate(model, tokenizer, tokenized_dir, prepared_dir, config, spec, device)
    record = {
        "family": config["family"],
        "task": task,
        "method": config["method"],
        "seed": seed,
        "metrics": metrics,
        "main_metric": spec.main_metric,
        "eval_split": provenance["eval_split"],
        "eval_split_official": provenance["eval_split_official"],
        "trainable_params": reported_params(log["trainable_params"]),
        "head_params": log["trainable_params"]["head"],
        # Full fine-tuning has no rank.
        "total_rank": sum(log["ranks"].values()) if log["ranks"] else None,
        "model": config["model"]["name"],
        "n_train": log["n_train"],
        # The training subset the task's data was drawn as (data.subset_seed, or the run seed).
        "train_subset": {"seed": provenance.get("train_subset_seed", provenance.get("subset_seed")),
                         "sha256": provenance.get("train_sha256")},
        **_per_epoch_fields(log, spec.main_metric),
        "n_eval": len(lines),
        "n_eval_full": provenance.get("n_eval_full", len(lines)),
        # What learning nothing scores, where the family knows it (GLUE: majority class, constant).
        **({"trivial_baseline": family.trivial_baseline(tokenized_dir, spec)} if family.trivial_baseline else {}),
        **{key: log[key] for key in ("grid", "tuning") if key in log},
        "code": code_version(),  # the commit that scored it, so runs of other code are not pooled blindly
        **(extra or {}),
    }
    if log["trainable_params"].get("bias"):
        record["bias_params"] = log["trainable_params"]["bias"]
    if family.decodes:
        record["generate"] = config["generate"]
    atomic.write_text(predictions_path, "".join(f"{line}\n" for line in lines))
    atomic.write_json(out_json, record)
    return record


def _per_epoch_fields(log: dict, main_metric: str) -> dict:
    """The dev score after every retraining epoch and the best of them, where they were taken."""
    if not log.get("epoch_metrics"):
        return {}
    return {"epoch_metrics": log["epoch_metrics"], "best_epoch": best_epoch(log["epoch_metrics"], main_metric)}


# ---- the no_retrain ablation: the search model itself, evaluated with only the components the
# threshold keeps, to measure what retraining with the found ranks adds. The search job saved its
# trained selection LoRA (A, B, α) and head (``search_state.safetensors``); the model is rebuilt as
# the search built it, that state loaded, and every dropped rank-1 component j of a module (w_j
# below λ, w from the ranks stage's rank form) zeroed: row j of lora_A and column j of lora_B. The
# kept components keep their searched weights w_j.


def kept_components(alphas: dict[str, list[float]], threshold: float, form: str) -> dict[str, list[bool]]:
    """Per module, which of its k components reach the threshold (the ranks stage's rule)."""
    return {name: selected_components(alpha, threshold, form).tolist() for name, alpha in alphas.items()}


@torch.no_grad()
def zero_dropped_components(model, kept: dict[str, list[bool]]) -> None:
    """Zero row j of lora_A and column j of lora_B of every component j that is not kept."""
    modules = selection_modules(model)
    if set(modules) != set(kept):
        raise ValueError(f"kept components name other modules than the model has: {sorted(set(modules) ^ set(kept))[:4]}")
    for name, module in modules.items():
        dropped = ~torch.tensor(kept[name], device=module.lora_A.device)
        module.lora_A[dropped] = 0.0
        module.lora_B[:, dropped] = 0.0


def kept_parameter_count(model, kept: dict[str, list[bool]]) -> int:
    """What the kept components would cost as plain LoRA: r (in + out) per module."""
    modules = selection_modules(model)
    return sum(sum(kept[name]) * (module.lora_A.shape[1] + module.lora_B.shape[0]) for name, module in modules.items())


def head_parameter_count(model) -> int:
    return sum(p.numel() for name in head_modules(model) for p in model.get_submodule(name).parameters())


def run_no_retrain(tokenized_dir, prepared_dir, search_json, state_path, config: dict, seed: int, out_json,
                   predictions_path) -> dict:
    """Evaluate the search model with its dropped components zeroed; write the metrics record."""
    seed_everything(seed)
    search = json.loads(Path(search_json).read_text())
    model = load_task_model(config)
    inject_search_lora(model, SearchSettings(**config["search"]), config["lora"])
    load_search_state(model, state_path)
    threshold = resolved_threshold(search["k"], config["ranks"]["threshold"])
    kept = kept_components(search["alpha"], threshold, config["ranks"]["form"])
    zero_dropped_components(model, kept)
    log = {
        "ranks": {name: sum(mask) for name, mask in kept.items()},
        "trainable_params": {"lora": kept_parameter_count(model, kept), "head": head_parameter_count(model)},
        "n_train": search["n_search_train"],
    }
    return score_model(model, log, tokenized_dir, prepared_dir, config, seed, out_json, predictions_path,
                       {"threshold": threshold, "form": config["ranks"]["form"]})
