"""The documentation's code (docs/usage.md, which the README points to): "Using AutoLoRA on your
own model" runs as printed, on a tiny BERT, and "Run AutoLoRA on your own data"'s task entry is a
valid config."""

import re

import torch
import yaml
from peft import PeftModel

from autolora.config import validate_config

from tests.conftest import REPO, random_batch


USAGE = "docs/usage.md"


def readme_block(heading: str, language: str = "python") -> str:
    """The first ``language`` code block of the section ``## heading`` of docs/usage.md."""
    section = (REPO / USAGE).read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_the_own_data_example_is_a_valid_config():
    """The printed entry, pointed at the example's files, passes validation as printed otherwise."""
    config = {"run": "readme", **yaml.safe_load(readme_block("Run AutoLoRA on your own data", "yaml")), "seeds": [0]}
    entry = config["own_tasks"]["reviews"]
    entry.update(train=str(REPO / "tests/data/own-task/reviews-train.csv"),
                 eval=str(REPO / "tests/data/own-task/reviews-eval.csv"))
    assert validate_config(config)["own_tasks"]["reviews"]["metric"] == "accuracy"


def test_the_own_model_example_searches_ranks_and_builds_their_peft_model(tiny_bert):
    code = readme_block("Using AutoLoRA on your own model")
    assert "from autolora.core import" in code and "autolora.stages.retrain" not in code  # the core and PEFT only
    batches = [random_batch(seed) for seed in range(4)]
    namespace = {"model": tiny_bert(dtype=torch.float32), "train_loader": batches[:2], "val_loader": batches[2:]}
    exec(compile(code, USAGE, "exec"), namespace)
    ranks, retrained = namespace["ranks"], namespace["retrained"]
    assert set(ranks) == {f"bert.encoder.layer.{layer}.attention.self.{matrix}"
                          for layer in (0, 1) for matrix in ("query", "value")}
    assert all(1 <= rank <= 8 for rank in ranks.values())
    assert isinstance(retrained, PeftModel)
    assert retrained.peft_config["default"].rank_pattern == {re.escape(name): rank for name, rank in ranks.items()}
