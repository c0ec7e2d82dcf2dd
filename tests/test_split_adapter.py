"""GPT-2 retraining with separate q and v ranks on the fused c_attn: built with exactly the
searched ranks, saved as safetensors + JSON, reloaded to the same outputs."""

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from autolora import split_adapter
from autolora.errors import TrainingError
from autolora.adapters import LoraAdapter, adapted_ranks, build_lora_model, count_trainable, load_adapter

RANKS = {"transformer.h.0.attn.c_attn.q": 2, "transformer.h.0.attn.c_attn.v": 0,
         "transformer.h.1.attn.c_attn.q": 1, "transformer.h.1.attn.c_attn.v": 3}


@pytest.fixture
def gpt2_dir(tmp_path):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=16, n_embd=12, n_layer=2, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "tiny-gpt2")
    return str(tmp_path / "tiny-gpt2")


def job_config(model_dir):
    return {"family": "nlg", "num_labels": None, "method": "autolora", "model": {"name": model_dir},
            "lora": {"alpha": 16}, "retrain": {"lora_dropout": 0.0, "lora_bias": "none"}, "task": "e2e"}


def trained_a_little(model):
    """Nonzero B matrices, so a reload that dropped them would show."""
    for name, param in model.named_parameters():
        if param.requires_grad:
            param.data.normal_(generator=torch.Generator().manual_seed(len(name)))
    return model


def test_split_ranks_are_recognised():
    assert split_adapter.is_split(RANKS)
    assert not split_adapter.is_split({"bert.encoder.layer.0.attention.self.query": 4})


def test_each_third_gets_its_own_rank_and_rank_zero_adds_nothing(gpt2_dir):
    model = build_lora_model(job_config(gpt2_dir), RANKS)
    assert adapted_ranks(model) == {name: r for name, r in RANKS.items() if r > 0}
    assert model.transformer.h[0].attn.c_attn.v is None
    counts = count_trainable(model)
    assert counts == {"lora": (2 + 1 + 3) * (12 + 12), "head": 0, "bias": 0, "other": 0}


def test_fresh_adapter_leaves_the_model_unchanged(gpt2_dir):
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    base = GPT2LMHeadModel.from_pretrained(gpt2_dir).eval()
    model = build_lora_model(job_config(gpt2_dir), RANKS).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, base(ids).logits)  # B = 0


def test_saved_adapter_reloads_to_the_same_outputs(gpt2_dir, tmp_path):
    config = job_config(gpt2_dir)
    model = trained_a_little(build_lora_model(config, RANKS)).eval()
    LoraAdapter().save(model, tmp_path / "adapter", config)
    saved = json.loads((tmp_path / "adapter" / split_adapter.CONFIG_FILE).read_text())
    assert saved["ranks"] == {name: r for name, r in RANKS.items() if r > 0}
    reloaded = load_adapter(config, tmp_path / "adapter")
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits, rtol=0, atol=0)
        assert not torch.equal(reloaded(ids).logits, GPT2LMHeadModel.from_pretrained(gpt2_dir)(ids).logits)


def test_an_adapter_with_missing_tensors_is_refused(gpt2_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    config = job_config(gpt2_dir)
    LoraAdapter().save(trained_a_little(build_lora_model(config, RANKS)), tmp_path / "adapter", config)
    weights = tmp_path / "adapter" / split_adapter.WEIGHTS_FILE
    tensors = load_file(str(weights))
    tensors.pop("transformer.h.1.attn.c_attn.v.lora_B")
    save_file(tensors, str(weights))
    with pytest.raises(TrainingError, match="c_attn.v.lora_B"):
        load_adapter(config, tmp_path / "adapter")


def test_all_zero_ranks_and_foreign_names_are_errors(gpt2_dir):
    with pytest.raises(TrainingError, match="every searched rank is 0"):
        build_lora_model(job_config(gpt2_dir), {name: 0 for name in RANKS})
    model = GPT2LMHeadModel.from_pretrained(gpt2_dir)
    with pytest.raises(TrainingError, match="not q/v thirds"):
        split_adapter.inject_split_lora(model, {"transformer.h.0.attn.c_attn.q": 1,
                                                "transformer.h.0.attn.c_attn.k": 1}, 16, 0.0)


def test_lora_bias_all_is_refused_for_split_adapters(gpt2_dir):
    from autolora.errors import ConfigError

    config = job_config(gpt2_dir)
    config["retrain"]["lora_bias"] = "all"
    with pytest.raises(ConfigError, match="config key retrain.lora_bias: 'all' is not implemented for GPT-2"):
        build_lora_model(config, RANKS)
