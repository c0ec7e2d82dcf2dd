"""Tokenise a prepared task once per model; every seed and method reuses the result.

* GLUE: (text_a, text_b) pairs, truncated to max_length as the paper's code does.
* Data-to-text: ``prompt target EOS`` for a causal LM (the prompt in the model's chat format, or
  ``record EOS`` for a plain LM: ``autolora.nlg_data.prompt_ids``), labels -100 on the prompt part, so the loss
  covers the target tokens (and the closing EOS that teaches the model to stop).
  Nothing is truncated: a row longer than max_length is an error naming it.
* NER: words → sub-tokens in windows (``autolora.ner.encode_words``), labels on each word's first
  sub-token; ``sentence`` tells which sentence a window belongs to.
"""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict

from autolora import atomic
from autolora.download import load_prepared
from autolora.errors import DataError
from autolora.model import load_tokenizer
from autolora.ner import IGNORE_LABEL, encode_words
from autolora.nlg_data import prompt_ids

TEXT_COLUMNS = ("text_a", "text_b")


def tokenize_pairs(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Encode (text_a, text_b) pairs, truncated to ``max_length``; padding happens per batch."""

    def encode(batch):
        second = batch["text_b"] if any(batch["text_b"]) else None
        encoded = tokenizer(batch["text_a"], second, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=[*TEXT_COLUMNS, "label"], desc="tokenising")


def tokenize_prompt_target(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Causal-LM rows ``prompt target EOS`` with the loss on ``target EOS`` only, for the
    training split (evaluation decodes from the prompts of the prepared data)."""

    def encode(row, index, split):
        context = prompt_ids(tokenizer, row["prompt"])
        target = tokenizer(row["target"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(context) + len(target) > max_length:
            raise DataError(f"{split} row {index}: {len(context) + len(target)} tokens exceed "
                            f"model.max_length {max_length} (raise it; rows are never truncated)")
        return {"input_ids": context + target, "attention_mask": [1] * (len(context) + len(target)),
                "labels": [IGNORE_LABEL] * len(context) + target}

    train = dataset["train"]
    return DatasetDict(train=train.map(encode, with_indices=True, fn_kwargs={"split": "train"},
                                       remove_columns=train.column_names, desc="tokenising"))


def tokenize_words(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """One row per window of each sentence (usually one), with word bookkeeping for decoding."""

    def encode(batch, indices):
        rows: dict[str, list] = {}
        for sentence, tokens, tags in zip(indices, batch["tokens"], batch["tags"]):
            for window in encode_words(tokenizer, tokens, tags, max_length):
                for key, value in {**window, "sentence": sentence}.items():
                    rows.setdefault(key, []).append(value)
        return rows

    return dataset.map(encode, batched=True, with_indices=True, remove_columns=["tokens", "tags"],
                       desc="tokenising")


TOKENIZERS = {"glue": tokenize_pairs, "nlg": tokenize_prompt_target, "ner": tokenize_words}


def tokenize_prepared(prepared_dir: str | Path, model_name: str, max_length: int, family: str,
                      out_dir: str | Path) -> None:
    dataset, _ = load_prepared(prepared_dir)  # a folder the prepare stage did not write is an error naming it
    tokenized = TOKENIZERS[family](dataset, load_tokenizer(model_name), max_length)
    with atomic.directory(out_dir) as staging:
        tokenized.save_to_disk(str(staging))
