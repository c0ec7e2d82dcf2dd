"""Precision: fp32 on CPU by default, bf16 autocast where asked (GPUs that support it under
"auto"); predictions come back as numpy floats either way."""

import numpy as np
import torch
from datasets import Dataset

from autolora.model import load_tokenizer
from autolora.training import predict
from autolora.training import autocast
from tests.conftest import random_batch


def test_auto_is_fp32_on_cpu_and_bf16_when_asked():
    cpu = torch.device("cpu")
    assert not autocast(cpu, "auto")._enabled
    assert not autocast(cpu, "fp32")._enabled
    assert autocast(cpu, "bf16")._enabled and autocast(cpu, "bf16").fast_dtype == torch.bfloat16


def test_bf16_regression_predictions_are_numpy_floats(tiny_bert):
    model = tiny_bert(num_labels=1, dtype=torch.float32)
    examples = [random_batch(seed, size=1) for seed in range(3)]
    data = Dataset.from_list([{"input_ids": example["input_ids"][0].tolist(),
                               "attention_mask": example["attention_mask"][0].tolist()} for example in examples])
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    with autocast(torch.device("cpu"), "bf16"):
        low = predict(model, data, tokenizer, 2, "cpu", is_regression=True)
    full = predict(model, data, tokenizer, 2, "cpu", is_regression=True)
    assert low.dtype == np.float32 and low.shape == full.shape == (3,)
    assert np.allclose(low, full, atol=0.05) and not np.array_equal(low, full)


def wide_selection_lora_bert(dtype):
    """A 4-layer, 256-wide random BERT with selection LoRA (k = 8): ~10⁵ lower-level weights, so
    the finite difference moves each by ~3e-5, below bf16's spacing at these magnitudes."""
    from transformers import BertConfig, BertForSequenceClassification

    from autolora.core import AutoLoraConfig
    from autolora.core.injection import inject_selection_lora

    torch.manual_seed(0)
    config = BertConfig(vocab_size=512, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=64, num_labels=2, attn_implementation="eager")
    model = BertForSequenceClassification(config)
    inject_selection_lora(model, AutoLoraConfig(max_rank=8, lora_alpha=16))
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if name.endswith("lora_B"):
            param.data.normal_(0, 0.02)  # the size trained LoRA weights reach
        elif name.endswith("selection_alpha"):
            param.data.normal_(1, 0.1)
    return model.to(dtype).eval()


def second_order_hypergradient(model, bf16: bool, hypergradient_fp32: bool) -> torch.Tensor:
    from autolora.core.bilevel import BilevelSearch
    from autolora.core.settings import SearchSettings
    from autolora.core.injection import lower_level_parameters, selection_parameters

    lower, upper = lower_level_parameters(model), selection_parameters(model)
    search = BilevelSearch(model, lower, upper, torch.optim.SGD(lower.values(), lr=0.0),
                           torch.optim.SGD(upper.values(), lr=0.0),
                           SearchSettings(lr=1e-3, hypergradient_fp32=hypergradient_fp32))
    train, val = random_batch(0, size=16, length=32), random_batch(1, size=16, length=32)
    for batch in (train, val):
        batch["input_ids"] = batch["input_ids"] * 8  # the wider vocabulary
    with autocast(torch.device("cpu"), "bf16" if bf16 else "fp32"):
        grads, _, _ = search.hypergradient(train, val)
    return torch.cat([g.double().flatten() for g in grads])


def test_the_hypergradient_survives_bf16_autocast():
    """Under the pipeline's bf16 setting the hypergradient stays within 1 % of float64 because
    its passes run in fp32; with every pass in bf16 this fixture is far off (the test can fail)."""
    reference = second_order_hypergradient(wide_selection_lora_bert(torch.float64), bf16=False, hypergradient_fp32=True)

    def error(hypergradient_fp32: bool) -> float:
        got = second_order_hypergradient(wide_selection_lora_bert(torch.float32), True, hypergradient_fp32)
        return ((got - reference).norm() / reference.norm()).item()

    assert error(hypergradient_fp32=True) < 1e-2
    assert error(hypergradient_fp32=False) > 3e-2
