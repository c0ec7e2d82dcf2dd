"""Same config and seed, same numbers: the search and retraining stages run twice on a tiny
real slice (MiniLM, RTE) must agree bit for bit; another seed must not."""

import json

import pytest
import torch
from safetensors.torch import load_file

from autolora.stages.ranks import rank_record
from autolora.stages.retrain import run_retrain
from autolora.stages.search import run_search
from tests.conftest import tiny_rte_job


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    return root, tiny_rte_job(root, 24, search={"epochs": 1, "batch_size": 8, "lr": 1e-2, "alpha_lr": 1e-1, "log_every": 1},
                              retrain={"epochs": 1, "batch_size": 8, "lr": 1e-2})


def search_and_retrain(root, config, seed, name):
    search = run_search(root / "tokenized", config, "rte", seed, root / f"{name}-search.json")
    ranks = rank_record(search)
    run_retrain(root / "tokenized", ranks, config, "rte", seed, root / f"{name}-adapter", root / f"{name}-retrain.json")
    weights = load_file(root / f"{name}-adapter" / "adapter_model.safetensors")
    return search, ranks, weights


def test_same_seed_gives_identical_alpha_ranks_and_adapter(job):
    root, config = job
    first = search_and_retrain(root, config, 0, "a")
    second = search_and_retrain(root, config, 0, "b")
    assert first[0]["alpha"] == second[0]["alpha"]
    assert first[0]["trajectory"] == second[0]["trajectory"]
    assert first[1] == second[1]
    assert first[2].keys() == second[2].keys()
    assert all(torch.equal(first[2][key], second[2][key]) for key in first[2])
    third = search_and_retrain(root, config, 1, "c")
    assert third[0]["alpha"] != first[0]["alpha"]
    assert json.loads((root / "a-retrain.json").read_text())["epoch_losses"] == \
        json.loads((root / "b-retrain.json").read_text())["epoch_losses"]


def test_a_search_stops_once_the_ranks_are_stable_and_a_rerun_does_not_go_on(job):
    root, config = job
    # α hardly moves at this learning rate: every rank stays k from the first logged step.
    config = {**config, "search": {**config["search"], "epochs": 5, "alpha_lr": 1e-12, "stop_when_stable": 2}}
    out = root / "stable-search.json"
    record = run_search(root / "tokenized", config, "rte", 0, out)
    # Steps 0, 1, 2 logged with equal ranks: stable after update 2, so 3 of 5 × 2 planned steps ran.
    assert (record["steps"], record["steps_planned"]) == (3, 10)
    again = run_search(root / "tokenized", config, "rte", 0, out)  # from the completed checkpoint
    assert again["steps"] == 3 and again["alpha"] == record["alpha"]


def test_alpha_every_k_updates_alpha_on_every_kth_step_only(job):
    root, config = job
    config = {**config, "search": {**config["search"], "epochs": 3, "alpha_every": 4}}
    record = run_search(root / "tokenized", config, "rte", 0, root / "every-search.json")
    # 2 steps an epoch, α updated at steps 0 and 4: the logged weights change only after those.
    history = next(iter(record["trajectory"]["weights"].values()))
    changed = [step for step, before, after in zip(record["trajectory"]["step"][1:], history, history[1:])
               if before != after]
    assert record["steps"] == 6 and changed == [4]
