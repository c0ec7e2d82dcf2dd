"""Retraining through PEFT: searched ranks applied exactly, rank-0 modules dropped, round trip."""

import pytest
import torch
from peft import PeftModel, get_peft_model

from autolora.errors import TrainingError
from autolora.retrain import adapted_ranks, check_ranks, count_trainable, lora_config_for_ranks
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
