"""SmolLM2-135M-Instruct from its PyPI package (GGUF): loads, takes q/v selection-LoRA, and
its cached float32 conversion reloads to the same model."""

import pytest
import torch

from autolora.core import AutoLoraConfig
from autolora.core.injection import inject_selection_lora, lower_level_parameters
from autolora.model import cache_causal_lm, load_causal_lm, load_tokenizer

NAME = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm(NAME).eval(), load_tokenizer(NAME)


def prompt_batch(tokenizer):
    batch = tokenizer(["name : The Vaults | Type : pub | near : Café Adriatic"], return_tensors="pt")
    return {**batch, "labels": batch["input_ids"]}


@pytest.mark.slow
def test_cached_conversion_reloads_the_same_model(smollm2, tmp_path):
    model, tokenizer = smollm2
    cache_causal_lm(NAME, tmp_path / "smollm2")
    cached = load_causal_lm(str(tmp_path / "smollm2")).eval()
    batch = prompt_batch(load_tokenizer(str(tmp_path / "smollm2")))
    assert batch["input_ids"].tolist() == prompt_batch(tokenizer)["input_ids"].tolist()
    with torch.no_grad():
        torch.testing.assert_close(cached(**batch).logits, model(**batch).logits)


def test_llama_q_and_v_projections_take_selection_lora(smollm2):
    model, tokenizer = smollm2
    batch = prompt_batch(tokenizer)
    with torch.no_grad():
        before = model(**batch).loss
    names = inject_selection_lora(model, AutoLoraConfig(targets=("q_proj", "v_proj"), max_rank=8, lora_alpha=16))
    assert len(names) == 60  # 30 layers x (q, v)
    assert names[:2] == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"]
    assert {n.rsplit(".", 1)[-1] for n in lower_level_parameters(model)} == {"lora_A", "lora_B"}
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).loss, before)  # B = 0: the pretrained model
    assert torch.isfinite(before) and before.item() < 12
