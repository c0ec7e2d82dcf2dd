"""Tokenise a prepared task once per model; every seed and method reuses the result. How rows
become tokens is the task family's (``Family.tokenize`` in ``autolora.families``)."""

from __future__ import annotations

from pathlib import Path

from autolora.plumbing import atomic
from autolora.data import load_prepared
from autolora.families import get_family
from autolora.model import load_tokenizer


def tokenize_prepared(prepared_dir: str | Path, model_name: str, max_length: int, family: str,
                      out_dir: str | Path) -> None:
    dataset, _ = load_prepared(prepared_dir)  # a folder the prepare stage did not write is an error naming it
    tokenized = get_family(family).tokenize(dataset, load_tokenizer(model_name), max_length)
    with atomic.directory(out_dir) as staging:
        tokenized.save_to_disk(str(staging))
