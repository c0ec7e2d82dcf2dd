"""The grid baseline: LoRA at each rank of ``grid_ranks``, the best on validation kept.

Each candidate ``grid_r{r}`` is trained (``autolora.stages.retrain``) on the search-train split and
scored here on the search-validation split (the same seeded split the AutoLoRA search uses; the
evaluation split is never seen while choosing). The score is the task family's choice metric
(``Family.choice_metric``, ``autolora.families``): the task's main metric for GLUE and NER (NER:
entity F1 over the validation windows), the mean per-token validation loss for data-to-text,
since decoding every candidate with beam search would cost more than training it. The chosen r
becomes the grid's ranks (``grid/ranks.json``), which are then retrained on the full training
data and evaluated exactly as AutoLoRA's searched ranks are: both methods choose on the same
split and train their final model on the same data.
"""

from __future__ import annotations

import json
from pathlib import Path

from datasets import load_from_disk

from autolora.plumbing import atomic
from autolora.adapters import load_adapter
from autolora.families import get_family
from autolora.methods import uniform_rank
from autolora.model import load_tokenizer, model_source
from autolora.data import split_for_search
from autolora.tasks import get_spec
from autolora.training import autocast, pick_device


def run_grid_validation(tokenized_dir, adapter_dir, config: dict, seed: int, out_json) -> dict:
    """Score one grid run's (or tuning trial's) adapter on the search-validation split; write the record."""
    train = load_from_disk(str(tokenized_dir))["train"]
    rows = split_for_search(train, config["search"]["val_fraction"], seed)[1]
    model = load_adapter(config, adapter_dir)
    tokenizer = load_tokenizer(model_source(config["model"]))
    device = pick_device(config["device"])
    spec, family = get_spec(config["task"]), get_family(config["family"])
    metric, higher_is_better = family.choice_metric(spec)
    with autocast(device, config["precision"]):
        value = family.score_rows(model, rows, tokenizer, config, spec, device)[metric]
    record = {"task": config["task"], "seed": seed, "method": config["method"],
              **({"trial": config["trial"]} if "trial" in config else {}), "rank": uniform_rank(config["method"]),
              "metric": metric, "value": float(value), "higher_is_better": higher_is_better, "n_search_val": len(rows)}
    atomic.write_json(out_json, record)
    return record


def choose_rank(scores: list[dict]) -> dict:
    """The best-scoring run; among equal scores the smaller rank (fewer parameters)."""
    if not scores:
        raise ValueError("no grid runs to choose from (config key grid_ranks)")
    sign = 1.0 if scores[0]["higher_is_better"] else -1.0
    return max(scores, key=lambda score: (sign * score["value"], -score["rank"]))


def run_grid_choice(validation_jsons, ranks_jsons, out_json) -> dict:
    """The grid's ranks: the best candidate's uniform ranks, with the choice recorded (``grid``)
    so that it travels through retraining into the metrics record."""
    scores = [json.loads(Path(path).read_text()) for path in validation_jsons]
    chosen = choose_rank(scores)
    record = json.loads(Path(ranks_jsons[scores.index(chosen)]).read_text())
    record["grid"] = {"chosen_rank": chosen["rank"], "validation_metric": chosen["metric"],
                      "validation_scores": {str(score["rank"]): score["value"] for score in scores}}
    atomic.write_json(out_json, record)
    return record
