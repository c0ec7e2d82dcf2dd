"""Retraining through PEFT: searched ranks applied exactly, rank-0 modules dropped, round trip."""

import pytest
import torch
from peft import PeftModel, get_peft_model

from autolora.core.lora_config import lora_config_for_ranks
from autolora.errors import TrainingError
from autolora.adapters import adapted_ranks, check_ranks, count_trainable
from tests.conftest import random_batch

Q0, V0, Q1, V1 = (f"bert.encoder.layer.{i}.attention.self.{m}" for i in (0, 1) for m in ("query", "value"))


def peft_model(tiny_bert, ranks):
    config = lora_config_for_ranks(ranks, lora_alpha=16, dropout=0.0, head=("classifier", "pooler"))
    return get_peft_model(tiny_bert(dtype=torch.float32), config)


def test_each_module_gets_its_searched_rank_and_rank_zero_is_not_adapted(tiny_bert):
    ranks = {Q0: 3, V0: 8, Q1: 0, V1: 1}
    model = peft_model(tiny_bert, ranks)
    assert adapted_ranks(model) == {Q0: 3, V0: 8, V1: 1}
    check_ranks(model, ranks)
    # PEFT scales each module by lora_alpha / r, as the official retraining does
    layer = model.get_submodule(f"base_model.model.{Q0}")
    assert layer.scaling["default"] == pytest.approx(16 / 3)


def test_layer_index_is_not_confused_with_a_longer_one(tiny_bert):
    # "layer.1" must not match "layer.11": module names are escaped before PEFT's regex match
    config = lora_config_for_ranks({Q1: 2}, 16, 0.0)
    assert all("\\." in key for key in config.rank_pattern)


def test_a_mismatch_between_searched_and_applied_ranks_is_an_error(tiny_bert):
    model = peft_model(tiny_bert, {Q0: 3, V0: 8})
    with pytest.raises(TrainingError, match="did not apply the searched ranks"):
        check_ranks(model, {Q0: 3, V0: 4})


def test_all_zero_ranks_are_an_error():
    with pytest.raises(TrainingError, match="every searched rank is 0"):
        lora_config_for_ranks({Q0: 0, V0: 0}, 16, 0.0)


def test_trainable_count_separates_lora_and_head(tiny_bert):
    counts = count_trainable(peft_model(tiny_bert, {Q0: 2, V0: 1}))
    assert counts["lora"] == 2 * (16 + 16) + 1 * (16 + 16)  # r (in + out) per module, hidden 16
    assert counts["head"] == (16 * 16 + 16) + (16 * 2 + 2)  # pooler dense + classifier


def test_an_adapter_whose_parameters_are_not_named_lora_is_counted_as_the_adapter(tiny_bert):
    """VeRA's trainable vectors are vera_lambda_b/d: counted by what the tuner layers declare
    (adapter_layer_names), not by a 'lora_' in the name, they are the adapter's count."""
    from peft import VeraConfig, get_peft_model

    model = get_peft_model(tiny_bert(dtype=torch.float32), VeraConfig(r=4, target_modules=["query", "value"]))
    vera = {name: param.numel() for name, param in model.named_parameters() if param.requires_grad}
    assert vera and all("vera_lambda" in name for name in vera)
    assert count_trainable(model) == {"lora": sum(vera.values()), "head": 0, "bias": 0, "other": 0}


def test_saved_adapter_loads_back_with_the_same_predictions(tiny_bert, tmp_path):
    ranks = {Q0: 3, V0: 2, Q1: 1, V1: 4}
    model = peft_model(tiny_bert, ranks)
    torch.manual_seed(3)
    for name, param in model.named_parameters():
        if param.requires_grad:  # a trained adapter, not the B = 0 init
            param.data.normal_(0, 0.1)
    model.eval()
    batch = {k: v for k, v in random_batch(5).items() if k != "labels"}
    expected = model(**batch).logits
    model.save_pretrained(tmp_path / "adapter")
    loaded = PeftModel.from_pretrained(tiny_bert(dtype=torch.float32), tmp_path / "adapter").eval()
    torch.testing.assert_close(loaded(**batch).logits, expected)
    assert adapted_ranks(loaded) == ranks


def test_lora_bias_all_trains_and_counts_every_bias(tiny_bert):
    config = lora_config_for_ranks({Q0: 2, V0: 1}, 16, 0.0, head=("classifier", "pooler"), bias="all")
    model = get_peft_model(tiny_bert(dtype=torch.float32), config)
    base = tiny_bert(dtype=torch.float32)
    biases = sum(p.numel() for n, p in base.named_parameters()
                 if n.endswith(".bias") and not n.startswith(("bert.pooler.", "classifier.")))
    counts = count_trainable(model)
    assert counts["bias"] == biases > 0
    assert counts["head"] == (16 * 16 + 16) + (16 * 2 + 2) and counts["other"] == 0
    without = count_trainable(peft_model(tiny_bert, {Q0: 2, V0: 1}))
    assert without["bias"] == 0 and without["lora"] == counts["lora"]


def test_best_epoch_is_the_dev_maximum_earliest_on_ties():
    from autolora.stages.evaluate import best_epoch

    scores = [{"accuracy": 0.6}, {"accuracy": 0.7}, {"accuracy": 0.7}, {"accuracy": 0.65}]
    assert best_epoch(scores, "accuracy") == {"epoch": 2, "metrics": {"accuracy": 0.7}}


def test_eval_every_epoch_records_dev_scores_without_changing_the_training(tmp_path):
    """Two epochs on a real RTE slice: one dev score per epoch, the last equal to what the
    evaluation stage computes from the saved adapter, and the same adapter as without scoring."""
    import json

    from safetensors.torch import load_file

    from autolora.stages.evaluate import run_evaluate
    from autolora.stages.retrain import run_retrain
    from tests.conftest import tiny_rte_job

    ranks = {"ranks": {f"bert.encoder.layer.{i}.attention.self.{m}": 2 for i in range(6) for m in ("query", "value")}}
    logs = {}
    for scored in (True, False):
        config = tiny_rte_job(tmp_path, 24, retrain={"epochs": 2, "batch_size": 8, "lr": 1e-2,
                                                     "eval_every_epoch": scored, "eval_batch_size": 64})
        out = tmp_path / f"scored-{scored}"
        logs[scored] = run_retrain(tmp_path / "tokenized", ranks, config, "rte", 0, out / "adapter", out / "retrain.json")
    assert "epoch_metrics" not in logs[False]
    assert [set(scores) for scores in logs[True]["epoch_metrics"]] == [{"accuracy"}, {"accuracy"}]
    first, second = (load_file(tmp_path / f"scored-{s}" / "adapter" / "adapter_model.safetensors") for s in (True, False))
    assert all(torch.equal(first[key], second[key]) for key in first)
    metrics = run_evaluate(tmp_path / "tokenized", tmp_path / "prepared", tmp_path / "scored-True" / "adapter",
                           tmp_path / "scored-True" / "retrain.json", config, "rte", 0, tmp_path / "metrics.json",
                           tmp_path / "predictions.txt")
    assert metrics["metrics"]["accuracy"] == pytest.approx(logs[True]["epoch_metrics"][-1]["accuracy"], abs=1e-12)
    assert metrics["best_epoch"]["epoch"] in (1, 2)
    assert json.loads((tmp_path / "metrics.json").read_text())["epoch_metrics"] == logs[True]["epoch_metrics"]


def test_the_saved_adapter_config_lists_target_modules_sorted(tiny_bert, tmp_path):
    import json

    from autolora.adapters import LoraAdapter

    model = peft_model(tiny_bert, {Q0: 3, V0: 2, Q1: 1, V1: 4})
    LoraAdapter().save(model, tmp_path / "adapter", {})
    modules = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["target_modules"]
    assert modules == sorted(modules) and len(modules) == 4
