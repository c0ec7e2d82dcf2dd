"""Baselines and ablations (autolora.methods, grid, no_retrain, AdaLoRA and no_meta training)."""

import copy
import json

import pytest
import torch
from datasets import Dataset, DatasetDict

from autolora import adapters
from autolora.stages import retrain
from autolora.config import task_config, validate_config
from autolora.core import AutoLoraConfig
from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_modules, selection_parameters, target_matrix_names
from autolora.stages.grid import choose_rank, run_grid_choice
from autolora.stages.ranks import control_ranks
from autolora.errors import ConfigError, TrainingError
from autolora.methods import BUDGET_CONTROL, REGISTRY, ablation_methods, adalora_settings, apply_method, entry_of, table_notes, uniform_rank
from autolora.stages.evaluate import kept_components, zero_dropped_components
from autolora.stages.ranks import uniform_rank_record
from tests.conftest import REPO, random_batch
from tests.test_config import TEST_CONFIG

BERT_MATRICES = [f"bert.encoder.layer.{layer}.attention.self.{matrix}" for layer in (0, 1) for matrix in ("query", "value")]


def test_uniform_ranks_list_every_target_matrix_without_training(tiny_bert):
    model = tiny_bert()
    names = target_matrix_names(model, ("query", "value"))
    assert names == BERT_MATRICES
    assert not any("lora" in name for name, _ in model.named_parameters())  # nothing was injected
    record = uniform_rank_record(names, uniform_rank("lora_r8"), "rte", 0)
    assert record["ranks"] == dict.fromkeys(BERT_MATRICES, 8) and record["total_rank"] == 32


def test_method_names_and_what_they_change():
    assert (uniform_rank("lora_r16"), uniform_rank("grid_r2"), uniform_rank("adalora")) == (16, 2, None)
    assert ablation_methods(["thresholds", "no_meta"], [0.5, 1.0, 2.0]) == [
        "autolora_l0.5", "autolora_l1", "autolora_l2", "autolora_no_meta"]
    settings = {"lora": {"max_rank": 8}, "ranks": {"threshold": None, "form": "softmax"}, "search": {}}
    assert apply_method(copy.deepcopy(settings), "autolora_l0.5")["ranks"]["threshold"] == 0.5 / 8
    assert apply_method(copy.deepcopy(settings), "autolora_normalized")["ranks"]["form"] == "normalized"
    assert apply_method(copy.deepcopy(settings), "autolora_first_order")["search"]["hypergradient"] == "first_order"


# One name of every registry entry, and the benchmarked stages its own jobs run.
METHOD_STAGES = {
    "autolora": ("search", "retrain", "evaluate"), "lora_r8": ("retrain", "evaluate"),
    "grid_r2": ("retrain", "evaluate"), "grid": ("retrain", "evaluate"), "adalora": ("retrain", "evaluate"),
    "full_ft": ("retrain", "evaluate"), "lora_budget": ("retrain", "evaluate"),
    "random_ranks": ("retrain", "evaluate"), "search_long": ("search", "retrain", "evaluate"),
    "autolora_no_meta": ("search", "retrain", "evaluate"), "autolora_first_order": ("search", "retrain", "evaluate"),
    "autolora_normalized": ("retrain", "evaluate"), "autolora_l0.5": ("retrain", "evaluate"),
    "autolora_no_retrain": ("evaluate",),
}


def test_every_method_name_belongs_to_exactly_one_registry_entry():
    for method, stages in METHOD_STAGES.items():
        entries = [entry.name for entry in REGISTRY if entry.matches(method)]
        assert len(entries) == 1, (method, entries)
        assert entry_of(method).stages == stages, method
    assert {entry_of(method).name for method in METHOD_STAGES} == {entry.name for entry in REGISTRY}
    for name in ("lora_r0", "grid_r", "autolora_l", "search_", "lora"):
        assert not any(entry.matches(name) for entry in REGISTRY), name


def test_every_equal_budget_control_allocates_autolora_total_through_the_registry():
    autolora = {"task": "rte", "seed": 3, "k": 4, "ranks": {"a": 1, "b": 4, "c": 2}, "total_rank": 7}
    controls = [entry for entry in REGISTRY if entry.ranks == BUDGET_CONTROL]
    assert {entry.name for entry in controls} == {"lora_budget", "random_ranks"}
    for entry in controls:
        record = control_ranks(entry.allocate, autolora, 3)
        assert record["total_rank"] == sum(record["ranks"].values()) == 7 and set(record["ranks"]) == {"a", "b", "c"}


def test_table_notes_describe_only_the_methods_present():
    config = {"grid_ranks": [1, 4]}
    assert table_notes(config, "glue", {"autolora", "lora_r8"}) == []
    notes = table_notes(config, "glue", {"autolora", "grid", "random_ranks"})
    assert [note.split(":")[0] for note in notes] == ["grid", "random_ranks"]
    assert "best main metric" in notes[0] and "[1, 4]" in notes[0]
    assert "lowest validation loss" in table_notes(config, "e2e", {"grid"})[0]


NEW_BASELINE = """
import sys
import autolora.methods as methods

# A new baseline: one registry entry, AutoLoRA's total rank re-allocated like the controls.
methods.REGISTRY += (methods.Method("lora_top", "lora_top", ranks=methods.BUDGET_CONTROL),)
from snakemake.cli import main
sys.argv = ["snakemake", "-n", "--nolock", "--configfile", "config/test.yaml", "--config",
            "methods=[autolora,lora_top]", "ablations=[]", "--quiet", "rules"]
main()
"""


def test_a_new_baseline_is_one_registry_entry_and_no_rule_edit():
    """The rules take their wildcard constraints and inputs from the registry: a new entry's jobs
    appear in the DAG without touching workflow/rules (a dry run; its script is not written)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", NEW_BASELINE], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    counts = dict(line.split() for line in (result.stdout + result.stderr).splitlines()
                  if line.split()[:1] and line.split()[0] in ("control_ranks", "retrain_method", "evaluate_method"))
    seeds = len(TEST_CONFIG["seeds"])
    assert counts == {"control_ranks": str(seeds), "retrain_method": str(seeds), "evaluate_method": str(seeds)}, \
        result.stdout[-3000:] + result.stderr[-3000:]


def grid_score(rank, value, higher_is_better=True):
    return {"rank": rank, "value": value, "higher_is_better": higher_is_better, "metric": "accuracy"}


def test_grid_picks_the_best_validation_score_and_the_smaller_rank_on_ties():
    assert choose_rank([grid_score(1, 0.6), grid_score(2, 0.7), grid_score(4, 0.65)])["rank"] == 2
    assert choose_rank([grid_score(8, 0.7), grid_score(2, 0.7), grid_score(4, 0.5)])["rank"] == 2
    losses = [grid_score(1, 2.0, False), grid_score(4, 1.5, False), grid_score(8, 1.5, False)]
    assert choose_rank(losses)["rank"] == 4  # a loss: lower is better


def test_the_grid_keeps_the_chosen_candidates_ranks_and_records_the_choice(tmp_path):
    modules = ["layer.0.query", "layer.0.value"]
    validation, ranks = [], []
    for rank, value in ((1, 0.6), (4, 0.7), (8, 0.65)):
        validation.append(tmp_path / f"grid_r{rank}-validation.json")
        validation[-1].write_text(json.dumps({**grid_score(rank, value), "rank": rank}))
        ranks.append(tmp_path / f"grid_r{rank}-ranks.json")
        ranks[-1].write_text(json.dumps(uniform_rank_record(modules, rank, "rte", 0)))
    record = run_grid_choice(validation, ranks, tmp_path / "grid" / "ranks.json")
    assert record["ranks"] == dict.fromkeys(modules, 4) and record["total_rank"] == 8
    assert record["grid"] == {"chosen_rank": 4, "validation_metric": "accuracy",
                              "validation_scores": {"1": 0.6, "4": 0.7, "8": 0.65}}
    assert json.loads((tmp_path / "grid" / "ranks.json").read_text()) == record


def test_the_search_split_is_seeded_and_partitions_the_training_set():
    from autolora.data import split_for_search

    train = Dataset.from_dict({"tokens": [[str(i)] for i in range(100)], "tags": [[0]] * 100})
    first, again, other = (split_for_search(train, 0.1, seed) for seed in (3, 3, 4))
    assert (len(first[0]), len(first[1])) == (90, 10)
    assert first[1]["tokens"] == again[1]["tokens"] != other[1]["tokens"]
    assert sorted(t[0] for part in first for t in part["tokens"]) == sorted(str(i) for i in range(100))


def test_the_grid_candidates_train_on_search_train_and_its_chosen_rank_on_all_of_train(tmp_path):
    rows = Dataset.from_dict({"input_ids": [[i] for i in range(100)], "labels": list(range(100))})
    DatasetDict(train=rows).save_to_disk(str(tmp_path / "tokenized"))
    settings = {"search": {"val_fraction": 0.3}}
    candidate = retrain.training_rows(tmp_path / "tokenized", {**settings, "method": "grid_r4"}, seed=0)
    chosen = retrain.training_rows(tmp_path / "tokenized", {**settings, "method": "grid"}, seed=0)
    autolora = retrain.training_rows(tmp_path / "tokenized", {**settings, "method": "autolora"}, seed=0)
    assert len(candidate) == 70
    assert sorted(chosen["labels"]) == sorted(autolora["labels"]) == list(range(100))


def test_adalora_budget_is_autolora_total_rank_exactly():
    assert adapters.adalora_budget(37, 12, 8) == 37  # not round(37 / 12) * 12 = 36
    assert adapters.adalora_budget(30, 12, 8) == 30  # STS-B seed 1 once got 24 (round-half-to-even of 2.5)
    assert adapters.adalora_budget(96, 12, 8) == 95  # every rank kept: PEFT cannot prune to its start
    with pytest.raises(TrainingError, match="below one rank for each of AdaLoRA's 12 modules"):
        adapters.adalora_budget(11, 12, 8)


def test_adalora_schedule_scales_its_shares_to_the_run():
    defaults = adapters.adalora_schedule(10, adalora_settings({}))
    assert defaults == {"tinit": 1, "tfinal": 2, "deltaT": 1, "total_step": 10, "orth_reg_weight": 0.5}
    recipe = {"tinit": 0.12, "tfinal": 0.44, "mask_interval": 0.002, "orth_reg_weight": 0.1}
    assert adapters.adalora_schedule(5000, adalora_settings({"adalora": recipe})) == {
        "tinit": 600, "tfinal": 2200, "deltaT": 10, "total_step": 5000, "orth_reg_weight": 0.1}
    with pytest.raises(ConfigError, match="adalora.tinit/tfinal"):
        adapters.adalora_schedule(10, adalora_settings({"adalora": {"tinit": 0.5, "tfinal": 0.5}}))


def word_tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(59)]) + "\n")
    return BertTokenizerFast(vocab_file=str(vocab))


def test_adalora_allocates_ranks_after_every_update_and_keeps_its_budget(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setattr(adapters, "load_task_model", lambda config: tiny_bert(dtype=torch.float32))
    config = {"lora": {"targets": ["query", "value"], "max_rank": 4, "alpha": 8}, "family": "glue",
              "method": "adalora", "retrain": {"lora_dropout": 0.0, "lora_bias": "none"}}
    settings = {"batch_size": 4, "lr": 1e-2, "weight_decay": 0.0, "warmup_ratio": 0.0, "epochs": 2,
                "checkpoint_every": None}
    batch = random_batch(0, size=12)
    rows = Dataset.from_dict({key: value.tolist() for key, value in batch.items()})
    model, budget = adapters.build_adalora_model(config, {"total_rank": 5, "k": 4}, total_steps=6)
    calls = []
    allocate = model.base_model.update_and_allocate

    def counted(step):
        # Importance scores are gradient-based: the gradients must still be there.
        calls.append((step, all(p.grad is not None for n, p in model.named_parameters() if "lora_" in n)))
        allocate(step)

    retrain.train_epochs(model, rows, word_tokenizer(tmp_path), settings, 0, torch.device("cpu"), "rte",
                       tmp_path / "checkpoints", "test", counted)
    assert calls == [(step, True) for step in range(6)]
    assert budget["total_budget"] == 5  # AutoLoRA's total over 4 matrices: not a multiple of their number
    kept = adapters.adalora_kept_ranks(model)
    assert set(kept) == set(BERT_MATRICES) and sum(kept.values()) == 5


def test_no_meta_moves_alpha_and_weights_on_the_training_batch_alone(tiny_bert):
    outcomes = []
    for val_seed in (1, 2):
        model = tiny_bert()
        inject_selection_lora(model, AutoLoraConfig(max_rank=4))
        for module in selection_modules(model).values():
            torch.nn.init.normal_(module.lora_B)  # with B = 0 (LoRA's init) α has no gradient yet
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(model, lower, upper, torch.optim.SGD(lower.values(), lr=0.1),
                               torch.optim.SGD(upper.values(), lr=0.1), SearchSettings(hypergradient="single_level"))
        before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
        search.step(random_batch(0), random_batch(val_seed))
        moved = {name for name, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[name])}
        assert set(upper) <= moved and any("lora_B" in name for name in moved)
        outcomes.append(torch.cat([p.detach().flatten() for p in upper.values()]))
    torch.testing.assert_close(outcomes[0], outcomes[1], rtol=0, atol=0)  # the validation batch played no part


def test_no_retrain_zeroes_exactly_the_dropped_components(tiny_bert):
    model = tiny_bert()
    inject_selection_lora(model, AutoLoraConfig(max_rank=4))
    for module in selection_modules(model).values():
        torch.nn.init.normal_(module.lora_B)
    alphas = {name: [2.0, 0.0, 1.5, -1.0] for name in BERT_MATRICES}
    kept = kept_components(alphas, threshold=0.25, form="softmax")
    assert kept[BERT_MATRICES[0]] == [True, False, True, False]
    before = {name: (m.lora_A.detach().clone(), m.lora_B.detach().clone()) for name, m in selection_modules(model).items()}
    zero_dropped_components(model, kept)
    for name, module in selection_modules(model).items():
        a, b = before[name]
        assert torch.equal(module.lora_A[[0, 2]], a[[0, 2]]) and torch.equal(module.lora_B[:, [0, 2]], b[:, [0, 2]])
        assert not module.lora_A[[1, 3]].any() and not module.lora_B[:, [1, 3]].any()


def test_method_views_of_the_test_config():
    config = validate_config(copy.deepcopy(TEST_CONFIG), base_dir=REPO)
    assert task_config(config, "rte", "autolora_l0.5")["ranks"]["threshold"] == 0.5 / config["lora"]["max_rank"]
    assert task_config(config, "rte")["method"] == "autolora"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"methods": ["autolora", "lora_r0"]}, "config key methods.1"),
        ({"methods": ["lora"]}, "config key methods.0: 'lora' is not a method"),
        ({"methods": ["autolora", "grid_r2"]}, "config key methods.1: 'grid_r2' is not a method"),
        ({"ablations": ["no_search"]}, "config key ablations.0"),
        ({"method_tasks": ["cola"]}, "config key method_tasks: ['cola'] not in tasks"),
        ({"ablations": ["thresholds"], "ablation_thresholds": [0.5, 9]}, "config key ablation_thresholds: [9]"),
    ],
)
def test_bad_method_settings_name_the_key(changes, message):
    from autolora.errors import ConfigError

    config = copy.deepcopy(TEST_CONFIG) | changes
    with pytest.raises(ConfigError) as error:
        validate_config(config, base_dir=REPO)
    assert message in str(error.value)


def test_only_the_registry_and_the_trainings_branch_on_how_a_method_trains():
    """The kinds of training (LORA, ADALORA_TRAINING, FULL) are named in autolora.methods and
    autolora.adapters only; every other module asks adapters.adapter_kind(method)."""
    import ast

    kinds = {"LORA", "ADALORA_TRAINING", "FULL"}
    for path in [*(REPO / "autolora").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py")]:
        if path.relative_to(REPO).as_posix() in ("autolora/methods.py", "autolora/adapters.py"):
            continue
        tree = ast.parse(path.read_text())
        named = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        named |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
        named |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "trains"}
        assert not named & (kinds | {"trains"}), f"{path.relative_to(REPO)} branches on {sorted(named & (kinds | {'trains'}))}"
