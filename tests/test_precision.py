"""Precision: fp32 on CPU by default, bf16 autocast where asked (GPUs that support it under
"auto"); predictions come back as numpy floats either way."""

import numpy as np
import torch
from datasets import Dataset

from autolora.evaluate import predict
from autolora.model import load_tokenizer
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
