"""GPT-2's fused c_attn: separate q and v selection-LoRA updates, each with its own α."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from autolora.core import AutoLoraConfig
from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_parameters, selection_weights
from autolora.reporting.module_names import parse_module_name


@pytest.fixture
def tiny_gpt2():
    def make(seed=0):
        torch.manual_seed(seed)
        config = GPT2Config(vocab_size=64, n_positions=16, n_embd=12, n_layer=2, n_head=2,
                            attn_implementation="eager")  # exact hypergradients need double backward
        return GPT2LMHeadModel(config).double().eval()

    return make


def tokens(seed, size=3, length=8):
    ids = torch.randint(0, 64, (size, length), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "labels": ids}


def test_q_and_v_thirds_get_their_own_updates_and_names(tiny_gpt2):
    model, reference = tiny_gpt2(), tiny_gpt2()
    names = inject_selection_lora(model, AutoLoraConfig(targets=("c_attn",), max_rank=4, lora_alpha=8))
    assert names == [f"transformer.h.{i}.attn.c_attn.{m}" for i in range(2) for m in ("q", "v")]
    assert [parse_module_name(name) for name in names] == [(0, "q"), (0, "v"), (1, "q"), (1, "v")]
    batch = tokens(0)
    torch.testing.assert_close(model(**batch).logits, reference(**batch).logits)  # B = 0 at init

    layer = model.transformer.h[0].attn.c_attn
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    before = layer(x)
    with torch.no_grad():
        layer.q.lora_B.normal_()
    after = layer(x)
    changed = (after - before).abs().amax(dim=(0, 1)) > 0
    assert changed[:12].all() and not changed[12:].any()  # only the query third moved
    with torch.no_grad():
        layer.v.lora_B.normal_()
    changed = (layer(x) - after).abs().amax(dim=(0, 1)) > 0
    assert changed[24:].all() and not changed[:24].any()  # then only the value third


def test_only_c_attn_is_split(tiny_gpt2):
    model = tiny_gpt2()
    names = inject_selection_lora(model, AutoLoraConfig(targets=("c_attn", "c_proj"), max_rank=2))
    assert all(name.endswith(("c_attn.q", "c_attn.v")) for name in names)
    assert set(selection_weights(model)) == set(names)


def test_second_order_hypergradient_matches_exact_on_a_causal_lm(tiny_gpt2):
    def hypergradient(mode):
        model = tiny_gpt2()
        inject_selection_lora(model, AutoLoraConfig(targets=("c_attn",), max_rank=3, lora_alpha=6))
        torch.manual_seed(1)
        for name, param in model.named_parameters():
            if name.endswith(("lora_B", "selection_alpha")):
                param.data.normal_(0, 0.5)
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(model, lower, upper, torch.optim.SGD(lower.values(), lr=0.0),
                               torch.optim.SGD(upper.values(), lr=0.0),
                               SearchSettings(hypergradient=mode, lr=0.5, inner_lr_factor=True))
        grads, _, _ = search.hypergradient(tokens(0), tokens(1))
        return torch.cat([g.flatten() for g in grads])

    exact, second, first = (hypergradient(mode) for mode in ("exact", "second_order", "first_order"))
    assert ((first - exact).norm() / exact.norm()) > 0.05
    assert ((second - exact).norm() / exact.norm()) < 1e-3
