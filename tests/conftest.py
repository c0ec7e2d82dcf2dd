import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# CI runs on a clean clone with ../shared beside it: there, a missing mirror is a broken set-up.
IN_CI = os.environ.get("CI") == "true"


def require_shared(path: Path) -> None:
    """Skip the calling test where ``path`` (under ../shared) is absent; fail it under CI=true."""
    if path.exists():
        return
    message = f"{path} absent (the offline mirror ../shared beside the clone)"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it")
    pytest.skip(message)


def pytest_runtest_setup(item):
    """``@pytest.mark.needs_shared("data/glue")``: the test needs that part of ../shared."""
    for marker in item.iter_markers("needs_shared"):
        require_shared(SHARED / marker.args[0])


@pytest.fixture
def tiny_bert():
    """A randomly initialised 2-layer BERT classifier: no download, runs in milliseconds."""
    from transformers import BertConfig, BertForSequenceClassification

    def make(num_labels: int = 2, dtype=torch.float64, seed: int = 0, attention: str = "eager"):
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=32, num_labels=num_labels,
            # eager by default: the exact references differentiate twice, which SDPA's fused kernels cannot
            attn_implementation=attention,
        )
        return BertForSequenceClassification(config).to(dtype)

    return make


def random_batch(seed: int, size: int = 4, length: int = 8, num_labels: int = 2):
    generator = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(1, 64, (size, length), generator=generator),
        "attention_mask": torch.ones(size, length, dtype=torch.long),
        "labels": torch.randint(0, num_labels, (size,), generator=generator),
    }


def tiny_rte_job(root: Path, max_train_examples: int, **sections) -> dict:
    """A real RTE slice prepared and tokenised for MiniLM under ``root``; returns the job's
    config view with ``sections`` (search, retrain, ...) over the defaults."""
    from autolora.config import task_config, validate_config
    from autolora.tasks import prepare_task
    from autolora.stages.tokenize import tokenize_prepared

    prepare_task("rte", "mirror", SHARED / "data", root / "prepared", max_train_examples=max_train_examples)
    tokenize_prepared(root / "prepared", "all-MiniLM-L6-v2", 32, "glue", root / "tokenized")
    config = validate_config({
        "run": root.name, "tasks": ["rte"], "seeds": [0], "data": {"mirror": str(SHARED / "data")},
        "model": {"name": "all-MiniLM-L6-v2", "max_length": 32}, **sections,
    }, base_dir=REPO)
    return task_config(config, "rte")


def selection_lora_bert(tiny_bert, dtype=torch.float64, device="cpu"):
    """tiny_bert with selection LoRA (k = 4) in eval mode (no dropout: a deterministic function),
    with non-trivial B and α so that the second-order term is not zero (B = 0 at init kills it)."""
    from autolora.core import AutoLoraConfig
    from autolora.core.injection import inject_selection_lora

    model = tiny_bert(dtype=torch.float64)
    inject_selection_lora(model, AutoLoraConfig(max_rank=4, lora_alpha=8))
    torch.manual_seed(1)
    # Drawn in float64 on the CPU, then cast and moved: a GPU's generator, or a float32 draw, gives
    # other numbers, and the CPU-vs-GPU tests compare one function.
    for name, param in model.named_parameters():
        if name.endswith(("lora_B", "selection_alpha")):
            param.data.normal_(0, 0.5)
    return model.to(device=device, dtype=dtype).eval()
