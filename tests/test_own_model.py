"""An own model of a shape the pipeline has no names for: a tiny DistilBERT, whose projections are
``q_lin``/``k_lin``/``v_lin`` under ``transformer.layer.N`` and whose sequence head adds a
``pre_classifier`` no head list names, adapted beyond q and v (the key and the first FFN layer).
The whole DAG runs, every report included, and the fresh head trains and is counted."""

import json
import subprocess
import sys

import pytest
import torch
import yaml

from autolora.model import load_tokenizer
from tests.conftest import REPO, SHARED

TARGETS = ["q_lin", "k_lin", "v_lin", "lin1"]
DIM, LABELS = 16, 2


def tiny_distilbert(folder):
    """A 2-layer DistilBERT encoder with random weights and no task head, and MiniLM's WordPiece
    tokenizer, saved as a model folder."""
    from transformers import DistilBertConfig, DistilBertModel

    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=DIM, n_layers=2, n_heads=2, hidden_dim=32,
                              max_position_embeddings=64)
    DistilBertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.needs_shared("data/glue")
def test_an_unnamed_model_and_targets_run_the_whole_dag_and_its_fresh_head_trains(tmp_path):
    model = tiny_distilbert(tmp_path / "tiny-distilbert")
    config = {
        "run": "own-model", "tasks": ["rte"], "seeds": [0, 1], "methods": ["autolora", "lora_r2", "lora_budget"],
        "threads": 1,
        "data": {"source": "mirror", "mirror": str(SHARED / "data"), "max_train_examples": 48, "max_eval_examples": 32},
        "model": {"name": str(model), "max_length": 32},
        "lora": {"targets": TARGETS, "max_rank": 4},
        "search": {"epochs": 1, "batch_size": 8, "log_every": 1},
        "retrain": {"epochs": 1, "batch_size": 8},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "results" / "own-model"
    job = run / "glue" / "rte" / "seed0"
    ranks = json.loads((job / "ranks.json").read_text())["ranks"]
    assert {name.rsplit(".", 1)[-1] for name in ranks} == set(TARGETS) and len(ranks) == 2 * len(TARGETS)
    # Every report: the tables, the rank and trajectory figures, the diagnostics, cost, differences.
    for table in ("glue", "rank_stability", "cost", "differences"):
        assert (run / "tables" / f"{table}.md").stat().st_size > 0
    for figure in ("glue_ranks", "glue_alpha_trajectories", "quality_cost", "differences"):
        assert (run / "figures" / f"{figure}.png").stat().st_size > 0
    # The head: pre_classifier (dim × dim + dim) and classifier (dim × labels + labels), both fresh.
    head = DIM * DIM + DIM + DIM * LABELS + LABELS
    for folder in (job, job / "lora_r2"):
        assert json.loads((folder / "retrain.json").read_text())["trainable_params"]["head"] == head
        assert json.loads((folder / "metrics.json").read_text())["head_params"] == head
    saved = json.loads((job / "lora_r2" / "adapter" / "adapter_config.json").read_text())["modules_to_save"]
    assert {"classifier", "pre_classifier"} <= set(saved)  # PEFT adds its own names for a sequence head
