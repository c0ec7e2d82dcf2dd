"""Tokenise a prepared task once per model; every seed and method reuses the result."""

from __future__ import annotations

from pathlib import Path

from datasets import DatasetDict, load_from_disk

from autolora.model import load_tokenizer
from autolora import atomic

TEXT_COLUMNS = ("text_a", "text_b")


def tokenize_pairs(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Encode (text_a, text_b) pairs, truncated to ``max_length``; padding happens per batch."""

    def encode(batch):
        second = batch["text_b"] if any(batch["text_b"]) else None
        encoded = tokenizer(batch["text_a"], second, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=[*TEXT_COLUMNS, "label"], desc="tokenising")


def tokenize_prepared(prepared_dir: str | Path, model_name: str, max_length: int, out_dir: str | Path) -> None:
    dataset = load_from_disk(str(prepared_dir))
    tokenized = tokenize_pairs(dataset, load_tokenizer(model_name), max_length)
    with atomic.directory(out_dir) as staging:
        tokenized.save_to_disk(str(staging))
