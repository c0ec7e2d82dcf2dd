"""A task family from outside the tree: a package installed beside autolora (never inside the
checkout) that names its module as an entry point of the group ``autolora.families``. Its family,
extractive QA on synthetic questions with a tiny BERT built from a config, runs the whole DAG,
reports included, and no file under autolora/ names it."""

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.conftest import REPO

FAMILY_MODULE = '''
"""A toy extractive-QA family for autolora: which colour an item has, answered by a span of a
two-sentence context. Synthetic rows, so that it needs no data set."""
import random

import numpy as np
from datasets import Dataset, DatasetDict, load_from_disk

from autolora.families.base import Family, MetricColumn, TaskSpec, register

COLOURS = ("red", "blue", "green", "black", "white", "yellow")


def _rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        item, other = rng.sample(range(100), 2)
        colour = rng.choice(COLOURS)
        context = f"item {other} is {rng.choice(COLOURS)} . item {item} is {colour} ."
        rows.append({"question": f"what colour is item {item} ?", "context": context, "answer": colour,
                     "answer_start": context.rindex(colour)})
    return Dataset.from_list(rows)


def load(*_ignored):
    return DatasetDict(train=_rows(96, 0), eval=_rows(32, 1)), {"source": "synthetic rows"}


def tokenize(dataset, tokenizer, max_length):
    def encode(batch):
        encoded = tokenizer(batch["question"], batch["context"], truncation="only_second", max_length=max_length,
                            return_offsets_mapping=True)
        starts, ends = [], []
        for row, offsets in enumerate(encoded["offset_mapping"]):
            first = batch["answer_start"][row]
            last = first + len(batch["answer"][row])
            sequence = encoded.sequence_ids(row)
            inside = [t for t, (start, end) in enumerate(offsets) if sequence[t] == 1 and start >= first and end <= last]
            starts.append(inside[0])
            ends.append(inside[-1])
        encoded.pop("offset_mapping")
        encoded["start_positions"], encoded["end_positions"] = starts, ends
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset["train"].column_names)


def _exact_match(model, rows, tokenizer, config, device):
    import torch

    from autolora.training import make_loader, to_device

    model.to(device).eval()
    spans = []
    with torch.no_grad():
        for batch in make_loader(rows, tokenizer, config["retrain"]["eval_batch_size"], shuffle=False, seed=0):
            batch.pop("start_positions")
            batch.pop("end_positions")
            output = model(**to_device(batch, device))
            spans += list(zip(output.start_logits.argmax(-1).tolist(), output.end_logits.argmax(-1).tolist()))
    gold = list(zip(rows["start_positions"], rows["end_positions"]))
    return float(np.mean([span == answer for span, answer in zip(spans, gold)])), spans


def evaluate(model, tokenizer, tokenized_dir, prepared_dir, config, spec, device):
    exact, spans = _exact_match(model, load_from_disk(str(tokenized_dir))["eval"], tokenizer, config, device)
    return {"exact_match": exact}, [f"{start} {end}" for start, end in spans]


def score_rows(model, rows, tokenizer, config, spec, device):
    return {"exact_match": _exact_match(model, rows, tokenizer, config, device)[0]}


TOY = TaskSpec("colourqa", "toyspan", "colourqa", load, load, eval_split="eval", eval_split_official=False,
               num_labels=None, main_metric="exact_match", label="Colour QA")
register(Family(
    name="toyspan", tasks=(TOY,), tokenize=tokenize, auto_model="AutoModelForQuestionAnswering",
    model_kwargs=lambda spec, config: {}, peft_task_type="QUESTION_ANS", evaluate=evaluate, score_rows=score_rows,
    choice_metric=lambda spec: ("exact_match", True), table_columns=(MetricColumn("EM", "exact_match"),),
    extra_inputs=("start_positions", "end_positions"),
))
'''

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "autolora-extractive-toy"
version = "0.1.0"

[project.entry-points."autolora.families"]
toyspan = "extractive_toy"

[tool.setuptools]
py-modules = ["extractive_toy"]
"""


def install_plugin(root):
    """Build and install the package into its own folder (not the environment: other tests must
    not see the family); return that folder for PYTHONPATH."""
    source, site = root / "extractive-toy", root / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (source / "extractive_toy.py").write_text(FAMILY_MODULE)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, timeout=300)
    return site


def tiny_bert(folder):
    import torch
    from transformers import BertConfig, BertModel

    from autolora.model import load_tokenizer

    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_family_installed_from_outside_the_tree_runs_the_whole_dag(tmp_path):
    site = install_plugin(tmp_path)
    config = {
        "run": "plugin", "tasks": ["colourqa"], "seeds": [0, 1], "methods": ["autolora", "lora_r2", "lora_budget"],
        "threads": 1, "data": {"source": "hub"},
        "model": {"name": str(tiny_bert(tmp_path / "tiny-bert")), "max_length": 48},
        "lora": {"max_rank": 4}, "search": {"epochs": 1, "batch_size": 8, "log_every": 1},
        "retrain": {"epochs": 1, "batch_size": 8},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "OMP_WAIT_POLICY": "PASSIVE", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "work"),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "work" / "results" / "plugin"
    for folder in (run / "toyspan" / "colourqa" / "seed0", run / "toyspan" / "colourqa" / "seed1" / "lora_r2"):
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["family"] == "toyspan" and 0.0 <= metrics["metrics"]["exact_match"] <= 1.0
        assert metrics["head_params"] == 16 * 2 + 2  # qa_outputs: fresh, so trained and counted
    table = (run / "tables" / "colourqa.md").read_text()
    assert "Colour QA" in table and "| EM |" in table
    for name in ("tables/differences.md", "tables/cost.md", "tables/rank_stability.md",
                 "figures/toyspan_ranks.png", "figures/toyspan_alpha_trajectories.png"):
        assert (run / name).stat().st_size > 0, name
    named = subprocess.run(["grep", "-rlE", "colourqa|toyspan|extractive_toy|Colour QA", str(REPO / "autolora")],
                           capture_output=True, text=True, check=False)
    assert named.stdout == "", named.stdout


def test_a_family_that_fails_to_load_is_a_config_error_naming_its_entry_point(monkeypatch):
    from importlib.metadata import EntryPoint

    import autolora.families as families
    from autolora.errors import ConfigError

    broken = EntryPoint(name="broken", value="no_such_module_anywhere", group=families.ENTRY_POINT_GROUP)
    monkeypatch.setattr(families, "entry_points", lambda group: [broken] if group == families.ENTRY_POINT_GROUP else [])
    with pytest.raises(ConfigError, match=r"task family 'broken' \(no_such_module_anywhere, entry point group "
                                          r"autolora.families\) failed to load: ModuleNotFoundError"):
        families._load_installed_families()
