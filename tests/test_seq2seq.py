"""The encoder-decoder family (autolora/families/data_to_text/seq2seq.py): its rows, its batches, and a tiny T5
built from a config (no weights needed) through the whole pipeline, search to report."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForTokenClassification, T5Config, T5ForConditionalGeneration

from autolora.errors import DataError
from autolora.families import get_family
from autolora.families.data_to_text.seq2seq import tokenize_source_target
from autolora.model import load_tokenizer
from autolora.training import collator_for, make_loader
from tests.conftest import REPO, SHARED


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("all-MiniLM-L6-v2")


def rows(prompts, targets):
    return DatasetDict(train=Dataset.from_dict({"prompt": prompts, "target": targets, "group": list(range(len(prompts)))}))


def test_rows_hold_the_source_and_the_decoder_s_own_target(tokenizer):
    data = tokenize_source_target(rows(["name : The Vaults | Type : pub"], ["The Vaults is a pub ."]), tokenizer, 64)
    row = data["train"][0]
    assert tokenizer.decode(row["input_ids"], skip_special_tokens=True) == "name : the vaults | type : pub"
    assert tokenizer.decode(row["labels"], skip_special_tokens=True) == "the vaults is a pub."
    assert len(row["input_ids"]) != len(row["labels"])
    with pytest.raises(DataError, match="train row 0: 11 tokens exceed model.max_length 8"):
        tokenize_source_target(rows(["a b c d e f g h i"], ["x"]), tokenizer, 8)


def test_batches_pad_sources_and_targets_each_to_their_own_longest(tokenizer):
    data = tokenize_source_target(rows(["a b c d e f", "a"], ["x", "x y z w v u t s"]), tokenizer, 64)["train"]
    batch = next(iter(make_loader(data, tokenizer, batch_size=2, shuffle=False, seed=0)))
    assert batch["input_ids"].shape == (2, 8) and batch["labels"].shape == (2, 10)
    assert (batch["labels"][0, 3:] == -100).all() and (batch["input_ids"][1, 3:] == tokenizer.pad_token_id).all()


@pytest.mark.parametrize("side", ["right", "left"])
def test_aligned_labels_are_padded_as_transformers_token_collator_pads_them(tokenizer, side):
    """Tags and causal-LM targets (one label per token) get the batch that transformers'
    token-classification collator gives, on either padding side."""
    import copy

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    features = Dataset.from_dict({"input_ids": [[101, 7, 8, 102], [101, 9, 102]],
                                  "attention_mask": [[1, 1, 1, 1], [1, 1, 1]],
                                  "labels": [[-100, 3, 4, -100], [-100, 5, -100]]}).with_format("torch")
    items = [features[0], features[1]]
    now = collator_for(features, tokenizer)(items)
    expected = DataCollatorForTokenClassification(tokenizer)(items)
    assert now.keys() == expected.keys()
    for key in expected:
        assert torch.equal(now[key], expected[key]), key


def test_the_family_loads_an_encoder_decoder_with_its_peft_task_type(tmp_path, tokenizer):
    folder = tiny_t5(tmp_path / "t5", tokenizer)
    from autolora.model import load_task_model

    model = load_task_model({"task": "e2e-seq2seq", "family": "seq2seq", "model": {"name": str(folder)}})
    assert isinstance(model, T5ForConditionalGeneration)
    assert get_family("seq2seq").peft_task_type == "SEQ_2_SEQ_LM"


def tiny_t5(folder, tokenizer):
    """A 2-block T5 with random weights and MiniLM's WordPiece tokenizer, saved as a model folder."""
    torch.manual_seed(0)
    config = T5Config(vocab_size=tokenizer.vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=2,
                      num_decoder_layers=2, num_heads=2, pad_token_id=tokenizer.pad_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.needs_shared("data/e2e")
def test_a_tiny_t5_runs_search_ranks_retrain_evaluate_and_the_report(tmp_path, tokenizer):
    model = tiny_t5(tmp_path / "tiny-t5", tokenizer)
    config = {
        "run": "seq2seq", "tasks": ["e2e-seq2seq"], "seeds": [0], "methods": ["autolora", "lora_r2"], "threads": 1,
        "data": {"source": "mirror", "mirror": str(SHARED / "data"), "max_train_examples": 16, "max_eval_examples": 4},
        "model": {"name": str(model), "max_length": 128},
        "lora": {"targets": ["q", "v"], "max_rank": 4},
        "search": {"epochs": 1, "batch_size": 4, "log_every": 1},
        "retrain": {"epochs": 1, "batch_size": 4},
        "generate": {"num_beams": 2, "max_new_tokens": 8, "batch_size": 4},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    job = tmp_path / "results" / "seq2seq" / "seq2seq" / "e2e-seq2seq" / "seed0"
    ranks = json.loads((job / "ranks.json").read_text())["ranks"]
    # q and v of the encoder's self-attention and the decoder's self- and cross-attention, per block
    assert set(ranks) == {f"{stack}.block.{block}.layer.{sublayer}.{attention}.{matrix}"
                          for stack, sublayer, attention in (("encoder", 0, "SelfAttention"),
                                                             ("decoder", 0, "SelfAttention"),
                                                             ("decoder", 1, "EncDecAttention"))
                          for block in (0, 1) for matrix in "qv"}
    for folder in (job, job / "lora_r2"):
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["family"] == "seq2seq" and metrics["main_metric"] == "BLEU" and "BLEU" in metrics["metrics"]
        assert metrics["n_eval"] == 4 and len((folder / "predictions.txt").read_text().splitlines()) == 4
    assert metrics["total_rank"] == 2 * len(ranks)
    tables = tmp_path / "results" / "seq2seq" / "tables"
    assert "| BLEU | NIST | METEOR | ROUGE-L | CIDEr |" in (tables / "e2e-seq2seq.md").read_text()
    assert (tmp_path / "results" / "seq2seq" / "figures" / "seq2seq_ranks.png").exists()


def test_a_family_s_own_collator_batches_its_rows(tokenizer):
    """``Family.collator`` (e.g. a multiple-choice family's, padding every choice) replaces the
    default padding in the loaders of the search and the retraining."""
    calls = []

    def collator(dataset, tokenizer):
        def collate(items):
            calls.append(len(items))
            return {"input_ids": torch.zeros(len(items), 1, dtype=torch.long)}

        return collate

    rows = Dataset.from_dict({"input_ids": [[1, 2], [3]], "attention_mask": [[1, 1], [1]]})
    batch = next(iter(make_loader(rows, tokenizer, 2, shuffle=False, seed=0, collator=collator)))
    assert calls == [2] and tuple(batch["input_ids"].shape) == (2, 1)
