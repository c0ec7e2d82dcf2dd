"""Evaluation stage: load the saved adapter, predict the evaluation split, score it.

Loading through ``PeftModel.from_pretrained`` (not the in-memory model of the retraining job)
means every reported number comes from the adapter a user would download.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from tqdm import tqdm

from autolora import atomic
from autolora.download import read_provenance
from autolora.metrics import glue_metrics, main_metric
from autolora.retrain import load_adapter
from autolora.model import load_tokenizer
from autolora.training import make_loader, pick_device, to_device


@torch.no_grad()
def predict(model, dataset, tokenizer, batch_size: int, device, is_regression: bool) -> np.ndarray:
    """Predictions for every example, in dataset order (no example is dropped)."""
    model.to(device).eval()
    outputs = []
    for batch in tqdm(make_loader(dataset, tokenizer, batch_size, shuffle=False, seed=0), desc="predict", mininterval=10):
        batch.pop("labels", None)
        logits = model(**to_device(batch, device)).logits
        outputs.append(logits.squeeze(-1) if is_regression else logits.argmax(-1))
    return torch.cat(outputs).cpu().numpy()


def run_evaluate(tokenized_dir, prepared_dir, adapter_dir, retrain_log, config, task, seed, out_json, predictions_path) -> dict:
    device = pick_device(config["device"])
    evaluation = load_from_disk(str(tokenized_dir))["eval"]
    provenance = read_provenance(prepared_dir)
    model = load_adapter(config, adapter_dir)
    is_regression = config["num_labels"] == 1
    predictions = predict(model, evaluation, load_tokenizer(config["model"]["name"]),
                          config["retrain"]["eval_batch_size"], device, is_regression)
    labels = np.asarray(evaluation["labels"])
    log = json.loads(Path(retrain_log).read_text())
    record = {
        "family": "glue",
        "task": task,
        "method": config["method"],
        "seed": seed,
        "metrics": glue_metrics(task, predictions, labels),
        "main_metric": main_metric(task),
        "eval_split": provenance["eval_split"],
        "eval_split_official": provenance["eval_split_official"],
        "trainable_params": log["trainable_params"]["lora"],
        "head_params": log["trainable_params"]["head"],
        "total_rank": sum(log["ranks"].values()),
        "model": config["model"]["name"],
        "n_train": log["n_train"],
        "n_eval": len(labels),
    }
    atomic.write_text(predictions_path, "".join(f"{p:.6g}\n" for p in predictions))
    atomic.write_json(out_json, record)
    return record
