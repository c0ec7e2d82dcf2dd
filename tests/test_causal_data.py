"""Data-to-text rows for a causal LM (loss on the target only), batched beam search that gives
what one-by-one decoding gives, and evaluation subsets that keep all references of a record."""

import pytest
import torch
from datasets import Dataset, DatasetDict

from autolora.data import evaluation_units, take_subset
from autolora.errors import DataError
from autolora.families.data_to_text.decode import generate_texts, pad_left
from autolora.model import load_tokenizer
from autolora.families.base import IGNORE_LABEL
from autolora.families.data_to_text.data import prompt_ids
from autolora.families.data_to_text.nlg import tokenize_prompt_target
from autolora.training import make_loader


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("SmolLM2-135M-Instruct")


def rows(prompts, targets):
    return DatasetDict(train=Dataset.from_dict({"prompt": prompts, "target": targets,
                                                "group": list(range(len(prompts)))}))


def test_loss_covers_the_target_and_its_eos_only(tokenizer):
    data = tokenize_prompt_target(rows(["name : The Vaults | Type : pub"], ["The Vaults is a pub."]),
                                  tokenizer, 64)["train"][0]
    context = prompt_ids(tokenizer, "name : The Vaults | Type : pub")
    target = tokenizer("The Vaults is a pub.", add_special_tokens=False)["input_ids"]
    assert data["input_ids"] == context + target + [tokenizer.eos_token_id]
    assert data["labels"] == [IGNORE_LABEL] * len(context) + target + [tokenizer.eos_token_id]
    # SmolLM2-Instruct has a chat template: the record is a user turn, decoding opens the reply.
    assert tokenizer.decode(context).endswith("name : The Vaults | Type : pub<|im_end|>\n<|im_start|>assistant\n")


def test_a_row_longer_than_max_length_is_named_not_truncated(tokenizer):
    short = len(prompt_ids(tokenizer, "a")) + 2
    with pytest.raises(DataError, match=f"train row 1: .* exceed model.max_length {short}"):
        tokenize_prompt_target(rows(["a", "a b c d e f g h"], ["x", "one two three four five"]), tokenizer, short)


def test_batches_pad_labels_with_ignore(tokenizer):
    data = tokenize_prompt_target(rows(["a", "a b c"], ["x y z w", "x"]), tokenizer, 64)["train"]
    batch = next(iter(make_loader(data, tokenizer, 2, shuffle=False, seed=0)))
    assert batch["labels"].shape == batch["input_ids"].shape
    assert ((batch["attention_mask"] == 0) <= (batch["labels"] == IGNORE_LABEL)).all()


def test_pad_left_aligns_the_ends():
    ids, mask = pad_left([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_batched_beam_search_equals_one_prompt_at_a_time(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         eos_token_id=tokenizer.eos_token_id)).double()
    prompts = ["name : Aromi | Type : coffee shop", "name : The Vaults", "area : city centre | near : Café Adriatic"]
    settings = {"num_beams": 3, "length_penalty": 0.8, "no_repeat_ngram_size": 4, "max_new_tokens": 6}
    batched = generate_texts(model, tokenizer, prompts, {**settings, "batch_size": 3}, "cpu")
    single = generate_texts(model, tokenizer, prompts, {**settings, "batch_size": 1}, "cpu")
    assert batched == single and len(batched) == 3 and all(batched)


def test_eval_subset_keeps_every_reference_of_the_chosen_records():
    eval_rows = Dataset.from_dict({"prompt": list("aabbbcd"), "target": list("1234567"), "group": [0, 0, 1, 1, 1, 2, 3]})
    data = DatasetDict(train=eval_rows, eval=eval_rows)
    subset = take_subset(data, "eval", 2, subset_seed=0, key="data.max_eval_examples", by_group=True)["eval"]
    groups = subset["group"]
    assert len(evaluation_units(subset)) == 2
    for group in set(groups):
        assert groups.count(group) == eval_rows["group"].count(group)
    train = take_subset(data, "train", 3, subset_seed=0, key="data.max_train_examples")["train"]
    assert len(train) == 3  # training subsets count rows
