"""A tiny training loop shaped like the search and retraining loops, with checkpoints.

The test bed of tests/test_checkpoint.py. Run as a script it is a whole job, which can SIGKILL
itself after a given update:

    python tests/checkpoint_training.py CHECKPOINT_FOLDER OUTPUT_JSON [KILL_AFTER_STEP]
"""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autolora.plumbing import atomic
from autolora.plumbing.checkpoint import Checkpointer, EndlessBatches, EpochBatches, job_fingerprint
from autolora.training import check_finite, seed_everything

EPOCHS = 3
BATCH_SIZE = 4
TRAIN_SIZE = 42  # 11 batches, the last one short
VAL_SIZE = 14  # 4 batches: validation passes do not line up with training epochs


def endless(loader):
    """The reference: a DataLoader cycled forever, as the loops did before checkpoints."""
    while True:
        yield from loader


class TinyModel(nn.Module):
    """A frozen 'base' layer, dropout (draws from torch's RNG), a trained head and a buffer."""

    def __init__(self):
        super().__init__()
        self.base = nn.Linear(6, 8)
        self.base.requires_grad_(False)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(8, 2)
        self.register_buffer("updates", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(torch.relu(self.base(x))))


def tiny_dataset(seed: int, size: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(size, 6, generator=generator), torch.randint(0, 2, (size,), generator=generator))


def seeded_loader(dataset: TensorDataset, seed: int) -> DataLoader:
    """As training.make_loader: shuffled by a generator of its own."""
    return DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(seed))


def build(seed: int):
    """Model, two optimisers (as the bilevel search has) and a linear schedule, all from the seed."""
    seed_everything(seed)
    model = TinyModel()
    head_optimizer = torch.optim.Adam([model.head.weight], lr=1e-2)
    bias_optimizer = torch.optim.SGD([model.head.bias], lr=0.1, momentum=0.9)
    total = EPOCHS * -(-TRAIN_SIZE // BATCH_SIZE)
    scheduler = torch.optim.lr_scheduler.LambdaLR(head_optimizer, lambda step: 1 - step / total)
    return model, (head_optimizer, bias_optimizer), scheduler


def update(model, batch, val_batch, optimizers, scheduler, step: int, nan_at: int | None) -> float:
    (x, y), (val_x, val_y) = batch, val_batch
    loss = nn.functional.cross_entropy(model(x), y) + 0.5 * nn.functional.cross_entropy(model(val_x), val_y)
    # Python's and NumPy's generators drive the loss too, so a resume must restore them as well.
    loss = loss * (1 + 1e-2 * (random.random() + np.random.rand()))
    if step == nan_at:
        loss = loss * float("nan")
    check_finite(loss.item(), step, "tiny training")
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    scheduler.step()
    model.updates += 1
    return loss.item()


def result(model, losses: list[float], steps: int) -> dict:
    parameters = {name: tensor.tolist() for name, tensor in model.state_dict().items()}
    return {"parameters": parameters, "losses": list(losses), "steps": steps}


def train_plain(seed: int = 0) -> dict:
    """The loop as search.py and retrain.py have it today: DataLoader, endless(), no checkpoints."""
    model, optimizers, scheduler = build(seed)
    train_loader = seeded_loader(tiny_dataset(seed, TRAIN_SIZE), seed)
    val_batches = endless(seeded_loader(tiny_dataset(seed + 100, VAL_SIZE), seed + 1))
    losses, step = [], 0
    for _ in range(EPOCHS):
        for batch in train_loader:
            losses.append(update(model, batch, next(val_batches), optimizers, scheduler, step, None))
            step += 1
    return result(model, losses, step)


def train(folder, seed: int = 0, every: int = 4, after_update=None, nan_at: int | None = None) -> dict:
    """The same loop made resumable with autolora.plumbing.checkpoint; ``after_update(step)`` may interrupt it."""
    model, optimizers, scheduler = build(seed)
    train_batches = EpochBatches(seeded_loader(tiny_dataset(seed, TRAIN_SIZE), seed))
    val_batches = EndlessBatches(seeded_loader(tiny_dataset(seed + 100, VAL_SIZE), seed + 1))
    losses, last = [], {"loss": None}
    progress = {"losses": losses, "last": last}  # the loop keeps using its own references after restore
    checkpointer = Checkpointer(
        folder, job_fingerprint(stage="tiny", seed=seed), every, model,
        stateful={"head": optimizers[0], "bias": optimizers[1], "schedule": scheduler, "val_batches": val_batches},
        tensors={"updates": model.updates},
        extra=progress,
    )
    step = checkpointer.restore()
    for epoch in range(step // len(train_batches), EPOCHS):
        for batch in train_batches.epoch(epoch, resume_from=step):
            last["loss"] = update(model, batch, next(val_batches), optimizers, scheduler, step, nan_at)
            losses.append(last["loss"])
            step += 1
            checkpointer.after_step(step)
            if after_update is not None:
                after_update(step)
    assert last["loss"] == losses[-1], "the restored progress lost its references"
    return result(model, losses, step), checkpointer


def kill_after(kill_step: int):
    def maybe_kill(step: int) -> None:
        if step == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)

    return maybe_kill


def main(folder: str, output: str, kill_step: str | None = None) -> None:
    torch.set_num_threads(1)
    record, checkpointer = train(folder, after_update=kill_after(int(kill_step)) if kill_step else None)
    atomic.write_json(Path(output), record)  # the job's output, only when complete
    checkpointer.finish()


if __name__ == "__main__":
    main(*sys.argv[1:])
