"""The CUDA path (issue #6): device choice, bf16 autocast, the bilevel search step and a PEFT
LoRA training step on a GPU. Skipped where no CUDA device is visible (CI, these CPU machines);
`bash workflow/scripts/gpu-check.sh` runs them with the step-time benchmark on a GPU machine."""

import pytest
import torch
from peft import LoraConfig, get_peft_model

from autolora.core.bilevel import BilevelSearch
from autolora.core.settings import SearchSettings
from autolora.core.injection import lower_level_parameters, selection_parameters
from autolora.training import autocast, pick_device, to_device, uses_bf16
from tests.conftest import random_batch, selection_lora_bert

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
CUDA = torch.device("cuda")


def search_on(device, tiny_bert, dtype, unroll="sgd", hvp="finite_difference"):
    model = selection_lora_bert(tiny_bert, dtype, device)  # CPU and GPU compute the same function
    lower, upper = lower_level_parameters(model), selection_parameters(model)
    return BilevelSearch(
        model, lower, upper,
        torch.optim.Adam(lower.values(), lr=1e-2), torch.optim.Adam(upper.values(), lr=1e-2),
        SearchSettings(lr=1e-2, unroll=unroll, hvp=hvp),
    )


def test_auto_settings_pick_the_gpu_and_bf16_where_it_is_supported():
    assert pick_device("auto").type == "cuda"
    assert uses_bf16(CUDA, "auto") == torch.cuda.is_bf16_supported()
    assert not uses_bf16(CUDA, "fp32")


def test_second_order_hypergradient_on_cuda_equals_the_cpu_one(tiny_bert):
    train, val = random_batch(0), random_batch(1)
    on_cpu, _, _ = search_on("cpu", tiny_bert, torch.float64).hypergradient(train, val)
    on_gpu, _, _ = search_on(CUDA, tiny_bert, torch.float64).hypergradient(to_device(train, CUDA), to_device(val, CUDA))
    for cpu_grad, gpu_grad in zip(on_cpu, on_gpu):
        torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("unroll", ["sgd", "optimizer"])
def test_search_steps_in_bf16_autocast_keep_fp32_parameters_and_move_both_levels(tiny_bert, unroll):
    search = search_on(CUDA, tiny_bert, torch.float32, unroll)
    before = {name: param.detach().clone() for name, param in search.upper.items()}
    with autocast(CUDA, "bf16"):
        for seed in range(3):
            losses = search.step(to_device(random_batch(2 * seed), CUDA), to_device(random_batch(2 * seed + 1), CUDA))
            assert torch.isfinite(torch.tensor([losses.train, losses.val])).all()
    for name, param in [*search.upper.items(), *search.lower.items()]:
        assert param.device.type == CUDA.type and param.dtype == torch.float32, name
    assert all(not torch.equal(before[name], search.upper[name]) for name in before)


@pytest.mark.parametrize("hvp", ["double_backward", "forward_over_reverse"])
def test_exact_hessian_products_run_on_fused_attention(tiny_bert, hvp):
    """SDPA's fused GPU kernels have no double backward and no forward-mode derivative; the search
    runs those passes on SDPA's math kernel and matches eager attention on the CPU."""
    train, val = random_batch(0), random_batch(1)
    on_cpu, _, _ = search_on("cpu", tiny_bert, torch.float64, hvp=hvp).hypergradient(train, val)
    fused = search_on(CUDA, lambda **kw: tiny_bert(attention="sdpa", **kw), torch.float32, hvp=hvp)
    on_gpu, _, _ = fused.hypergradient(to_device(train, CUDA), to_device(val, CUDA))
    for cpu_grad, gpu_grad in zip(on_cpu, on_gpu):
        torch.testing.assert_close(gpu_grad.cpu().double(), cpu_grad, rtol=1e-4, atol=1e-6)


def test_peft_lora_training_step_in_bf16_autocast(tiny_bert):
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], task_type="SEQ_CLS")
    model = get_peft_model(tiny_bert(dtype=torch.float32), config).to(CUDA).train()
    trainable = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    before = [param.detach().clone() for param in trainable]
    with autocast(CUDA, "bf16"):
        loss = model(**to_device(random_batch(0), CUDA)).loss
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(old, new) for old, new in zip(before, trainable))
