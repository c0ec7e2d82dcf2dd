"""What every training stage shares: seeding, threads, device, batching, finite losses, and the
predictions that retraining (per-epoch dev scores) and evaluation both take."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from autolora.errors import TrainingError
from autolora.families.base import model_inputs



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


def uses_bf16(device: torch.device | str, precision: str = "auto") -> bool:
    """bf16 on GPUs that support it (``auto``) or when asked (``bf16``), fp32 otherwise."""
    if precision == "auto":
        return torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def autocast(device: torch.device | str, precision: str = "auto"):
    """The forward passes' precision (see uses_bf16). Parameters, optimiser states and α stay fp32."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=uses_bf16(device, precision))


def collator_for(dataset, tokenizer):
    """Per-token labels are padded with -100, which every loss skips (``PerTokenLabels``); one
    label per example (GLUE) needs no padding."""
    from transformers import DataCollatorWithPadding

    if "labels" in dataset.column_names and hasattr(dataset.features["labels"], "feature"):
        return PerTokenLabels(DataCollatorWithPadding(tokenizer), tokenizer.padding_side)
    return DataCollatorWithPadding(tokenizer)


class PerTokenLabels:
    """Pads the inputs with the tokenizer and the labels with -100 to the batch's longest label
    sequence, on the tokenizer's padding side: the inputs' padded length where labels align with
    the tokens (NER tags, causal-LM targets; what transformers' token-classification collator
    gives), the decoder's own length for an encoder-decoder's targets (as its seq2seq collator)."""

    def __init__(self, pad_inputs, padding_side: str):
        self.pad_inputs, self.padding_side = pad_inputs, padding_side

    def __call__(self, features: list[dict]) -> dict:
        labels = [torch.as_tensor(feature["labels"]) for feature in features]
        batch = self.pad_inputs([{key: value for key, value in feature.items() if key != "labels"}
                                 for feature in features])
        batch["labels"] = torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=-100,
                                                          padding_side=self.padding_side).long()
        return batch


def make_loader(dataset, tokenizer, batch_size: int, shuffle: bool, seed: int,
                collator: Callable[..., Callable] | None = None) -> DataLoader:
    """Dynamic padding to the longest sequence of each batch (or the family's ``collator``); a
    seeded shuffle order."""
    collate = (collator or collator_for)(dataset, tokenizer)
    columns = [c for c in model_inputs() if c in dataset.column_names]
    return DataLoader(
        dataset.with_format("torch", columns=columns),
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
    )


def to_device(batch: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in batch.items()}


def check_finite(loss: float, step: int, stage: str) -> None:
    if not np.isfinite(loss):
        raise TrainingError(f"{stage}: loss is {loss} at step {step}; stopping (lower the learning rate?)")


@torch.no_grad()
def predict(model, dataset, tokenizer, batch_size: int, device, is_regression: bool) -> np.ndarray:
    """Predictions for every example, in dataset order (no example is dropped)."""
    model.to(device).eval()
    outputs = []
    for batch in tqdm(make_loader(dataset, tokenizer, batch_size, shuffle=False, seed=0), desc="predict", mininterval=10):
        batch.pop("labels", None)
        logits = model(**to_device(batch, device)).logits
        outputs.append(logits.squeeze(-1) if is_regression else logits.argmax(-1))
    return torch.cat(outputs).float().cpu().numpy()  # float(): numpy has no bf16


def bucketing(rows, pool_batches: int | None) -> dict:
    """``EpochBatches``' length-bucketing arguments from a section's ``length_buckets`` (the
    pool size in batches; None: the plain shuffle)."""
    if pool_batches is None:
        return {}
    return {"lengths": [len(ids) for ids in rows.with_format(None)["input_ids"]], "pool_batches": pool_batches}


def predict_tokens(model, dataset, tokenizer, batch_size: int, device) -> list[np.ndarray]:
    """The predicted tag id at every position of every window, in dataset order."""
    model.to(device).eval()
    outputs = []
    for batch in tqdm(make_loader(dataset, tokenizer, batch_size, shuffle=False, seed=0), desc="predict", mininterval=10):
        batch.pop("labels", None)
        tag_ids = model(**to_device(batch, device)).logits.argmax(-1).cpu().numpy()
        outputs.extend(tag_ids)
    return outputs


@torch.no_grad()
def mean_target_loss(model, rows, tokenizer, batch_size: int, device, shifted: bool) -> float:
    """The mean loss per labelled target token over ``rows`` (each batch's mean loss weighted by
    its labelled tokens). ``shifted``: a causal LM predicts each label from the tokens before it,
    so a row's first label has no prediction and is not in its loss; an encoder-decoder's decoder
    predicts every label."""
    model.to(device).eval()
    total, tokens = 0.0, 0
    for batch in make_loader(rows, tokenizer, batch_size, shuffle=False, seed=0):
        labels = batch["labels"][:, 1:] if shifted else batch["labels"]
        count = int((labels != -100).sum())  # -100: the label every loss skips (padding, prompts)
        total += model(**to_device(batch, device)).loss.item() * count
        tokens += count
    return total / tokens
