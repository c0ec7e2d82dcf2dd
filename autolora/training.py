"""What every training stage shares: seeding, threads, device, batching, atomic outputs, finite losses."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from autolora.errors import TrainingError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; data order gets its own seeded generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    """Use exactly the cores the scheduler granted: oversubscribed torch threads run many times slower."""
    torch.set_num_threads(max(1, int(threads)))


def pick_device(setting: str = "auto") -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def make_loader(dataset, tokenizer, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """Dynamic padding to the longest sequence of each batch; a seeded shuffle order."""
    from transformers import DataCollatorWithPadding

    columns = [c for c in MODEL_INPUTS if c in dataset.column_names]
    dataset = dataset.with_format("torch", columns=columns)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=DataCollatorWithPadding(tokenizer),
        generator=torch.Generator().manual_seed(seed),
    )


def endless(loader: DataLoader) -> Iterator[dict]:
    """Cycle through a loader (the validation batches of the search outlast one pass)."""
    while True:
        yield from loader


def to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


def check_finite(loss: float, step: int, stage: str) -> None:
    if not np.isfinite(loss):
        raise TrainingError(f"{stage}: loss is {loss} at step {step}; stopping (lower the learning rate?)")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write to a temporary file beside the target and rename, so no reader sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def write_json_atomic(path: str | os.PathLike, payload) -> None:
    write_text_atomic(path, json.dumps(payload, indent=1) + "\n")


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
