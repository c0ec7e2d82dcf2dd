import pytest
import torch
from torch import nn

from autolora.core import AutoLoraConfig
from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_parameters
from autolora.core.layer import SelectionLoRALinear


def test_update_starts_at_zero_and_matches_the_equation():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = SelectionLoRALinear(base, max_rank=4, lora_alpha=8)
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), base(x))  # B = 0: the pretrained model at init
    with torch.no_grad():
        layer.lora_B.normal_()
        layer.selection_alpha.copy_(torch.tensor([2.0, -1.0, 0.5, 0.0]))
    w = torch.softmax(layer.selection_alpha, -1)
    delta = sum(w[j] * torch.outer(layer.lora_B[:, j], layer.lora_A[j]) for j in range(4))
    expected = base(x) + (8 / 4) * x @ delta.T  # (lora_alpha/k) Σ_j w_j b_j a_jᵀ x
    torch.testing.assert_close(layer(x), expected)


def test_alpha_inits_give_uniform_weights():
    for init in ("ones", "zeros"):
        layer = SelectionLoRALinear(nn.Linear(8, 8), 8, 16, alpha_init=init)
        torch.testing.assert_close(layer.selection_weights(), torch.full((8,), 1 / 8))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="max_rank"):
        SelectionLoRALinear(nn.Linear(3, 3), 0, 16)
    with pytest.raises(ValueError, match="alpha_init"):
        SelectionLoRALinear(nn.Linear(3, 3), 2, 16, alpha_init="random")
    with pytest.raises(ValueError, match="max_rank 4 exceeds the smaller dimension of the 3×5 matrix"):
        SelectionLoRALinear(nn.Linear(5, 3), 4, 16)


def test_injection_adapts_query_and_value_and_splits_the_levels(tiny_bert):
    model = tiny_bert()
    names = inject_selection_lora(model, AutoLoraConfig(max_rank=4))
    assert names == [f"bert.encoder.layer.{i}.attention.self.{m}" for i in range(2) for m in ("query", "value")]
    upper, lower = selection_parameters(model), lower_level_parameters(model)
    assert len(upper) == 4 and all(p.shape == (4,) for p in upper.values())
    assert {n.rsplit(".", 1)[-1] for n in lower} == {"lora_A", "lora_B", "weight", "bias"}
    head = {n for n in lower if not n.endswith(("lora_A", "lora_B"))}
    assert head == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any("key" in n for n in frozen) and any("embeddings" in n for n in frozen)


def test_official_search_can_leave_the_head_frozen(tiny_bert):
    model = tiny_bert()
    inject_selection_lora(model, AutoLoraConfig(max_rank=4, train_head=False))
    assert all(n.endswith(("lora_A", "lora_B")) for n in lower_level_parameters(model))


@pytest.mark.parametrize(("field", "value"), [
    ("targets", ()), ("max_rank", 0), ("max_rank", 2.0), ("lora_alpha", 0), ("dropout", 1.0),
    ("alpha_init", "normal"), ("train_head", "yes"), ("threshold", 0.0), ("threshold", 1.5), ("rank_form", "sum"),
])
def test_autolora_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=rf"AutoLoraConfig\.{field}: "):
        AutoLoraConfig(**{field: value})


def test_autolora_config_defaults_are_the_papers():
    config = AutoLoraConfig()
    assert (config.targets, config.max_rank, config.lora_alpha, config.rank_threshold) == (("query", "value"), 8, 16.0, 1 / 8)
    assert AutoLoraConfig(targets=["q_proj"], threshold=0.5).targets == ("q_proj",)
    assert AutoLoraConfig(threshold=0.5).rank_threshold == 0.5
