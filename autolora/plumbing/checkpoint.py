"""Resumable training: checkpoints of the training state and a data order that can restart mid-epoch.

A job killed at any moment (SIGKILL included) and started again resumes from its last checkpoint
and ends bit for bit where an uninterrupted run ends (same config, seed and machine), because
everything that decides the next update is saved and restored:

- the trainable parameters (the frozen base model is reloaded from disk by the job itself) and
  any extra tensors the caller names (buffers);
- the state of every optimizer, scheduler and data stream (anything with ``state_dict`` /
  ``load_state_dict``);
- the random number generators of Python, NumPy and torch (CPU and CUDA): dropout masks draw
  from torch's;
- the global step, which also fixes the position in the training data (``EpochBatches``);
- JSON-able extra state of the loop (e.g. the trajectory record, running losses).

One checkpoint file per job folder, replaced atomically and fsync'ed: a resume reads either the
previous complete checkpoint or the new complete one, never a half-written file. The job's own
outputs are still written only at the end (``autolora.plumbing.atomic``); ``finish`` then removes the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from autolora.plumbing import atomic
from autolora.errors import CheckpointError, TrainingError

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> Any: ...


# --------------------------------------------------------------------------------------------
# Job identity


def job_fingerprint(**parts) -> str:
    """A short hash of what determines a job's training (its config, seed, stage, task...).

    A checkpoint is only resumed by a job with the same fingerprint.
    """
    return hashlib.sha256(_to_json(parts, "job fingerprint").encode()).hexdigest()[:16]


def checkpoint_folder_for(output: str | os.PathLike) -> Path:
    """The job-local checkpoint folder of the job that writes ``output``.

    Beside the output, so it survives the job being killed and rescheduled (a scratch folder may
    not); hidden, so globs over the results never see it.
    """
    output = Path(output)
    return output.parent / f".{output.name}.checkpoint"


def _to_json(mapping: Mapping[str, Any], what: str) -> str:
    """Canonical JSON (sorted keys), or a TypeError naming the entry that is not JSON-able."""
    for key, value in mapping.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{what}: entry {key!r} is not JSON-serialisable ({error})") from error
    return json.dumps(mapping, sort_keys=True)


# --------------------------------------------------------------------------------------------
# Resumable data order


def _check_resumable(loader: DataLoader) -> None:
    """Only loaders whose order is a pure function of their seeded generator can be replayed."""
    if loader.batch_size is None or type(loader.batch_sampler) is not BatchSampler:
        raise ValueError("resumable batches need a DataLoader built with batch_size (not a custom batch_sampler)")
    sampler = loader.sampler
    if type(sampler) is SequentialSampler:
        return
    if type(sampler) is not RandomSampler or sampler.replacement or sampler._num_samples is not None:
        raise ValueError(
            f"resumable batches need a DataLoader with shuffle=True or False; its sampler {sampler!r} "
            "(custom, with replacement or num_samples) cannot be replayed"
        )
    if loader.generator is None:
        raise ValueError(
            "resumable batches need a shuffling DataLoader with its own seeded generator "
            "(generator=torch.Generator().manual_seed(seed)); without one its order comes from the global RNG"
        )


class EpochBatches:
    """The batches of a DataLoader, epoch by epoch, in the very order the loader itself gives them;
    any epoch can be started at any batch.

    Epoch e's order is replayed from the loader's seeded generator (as it was when wrapped: wrap a
    fresh loader), so it does not depend on how many epochs ran in this process. Batches are fetched
    and collated by the loader's own dataset and collate_fn.

    With ``lengths`` (one per row) and ``pool_batches``, each epoch's shuffled order is bucketed
    by length (``bucket_by_length``): batches of similar lengths, far less padding, the same rows
    per epoch, and no extra draw from the generator, so resuming works as without.
    """

    def __init__(self, loader: DataLoader, lengths: Sequence[int] | None = None, pool_batches: int | None = None):
        _check_resumable(loader)
        if len(loader) == 0:
            raise ValueError("resumable batches: the DataLoader has no batches (empty dataset?)")
        if (lengths is None) != (pool_batches is None):
            raise ValueError("length bucketing needs both the rows' lengths and the pool size")
        self.loader = loader
        self.lengths, self.pool_batches = lengths, pool_batches
        self.shuffle = type(loader.sampler) is RandomSampler
        # The generator state at the start of each epoch; more are added as epochs are replayed.
        self._epoch_start_states = {0: loader.generator.get_state()} if self.shuffle else {}

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int, resume_from: int = 0) -> DataLoader:
        """The batches of ``epoch`` whose global step (epoch * len(self) + index) is >= ``resume_from``.

        A DataLoader, so len() (and tqdm) count the batches left.
        """
        skip = min(max(resume_from - epoch * len(self), 0), len(self))
        remaining = self.order(epoch)[skip * self.loader.batch_size:]
        return self._fetching_loader(remaining)

    def order(self, epoch: int) -> list[int]:
        """The dataset indices of ``epoch`` in the order the wrapped loader visits them."""
        size = len(self.loader.dataset)
        if not self.shuffle:
            return list(range(size))
        known = max(e for e in self._epoch_start_states if e <= epoch)
        generator = torch.Generator()
        generator.set_state(self._epoch_start_states[known])
        for replayed in range(known, epoch + 1):
            order = self._draw_one_pass(generator, size)
            self._epoch_start_states[replayed + 1] = generator.get_state()
        if self.lengths is not None:
            return bucket_by_length(order, self.lengths, self.loader.batch_size, self.pool_batches)
        return order

    @staticmethod
    def _draw_one_pass(generator: torch.Generator, size: int) -> list[int]:
        # A shuffling DataLoader over the indices themselves, exhausted, draws from the generator
        # exactly what one pass of the wrapped loader draws (its base seed, then the sampler's
        # permutations), whatever torch does inside; tests compare the two.
        indices = DataLoader(range(size), batch_size=size, shuffle=True, generator=generator, collate_fn=list)
        return [index for batch in indices for index in batch]

    def _fetching_loader(self, indices: list[int]) -> DataLoader:
        loader = self.loader
        # A throwaway generator of its own: without one, each pass would draw its base seed from
        # torch's global RNG and shift every later dropout mask.
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size,
            sampler=indices,
            collate_fn=loader.collate_fn,
            drop_last=loader.drop_last,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
            generator=torch.Generator(),
        )


def bucket_by_length(order: list[int], lengths: Sequence[int], batch_size: int, pool_batches: int) -> list[int]:
    """A shuffled order rearranged into batches of similar lengths: cut into pools of
    ``pool_batches`` batches, each pool sorted by length (stable) and cut into batches, the
    batches of a pool in the order of their earliest row in ``order`` (random, as ``order`` is,
    with no further draw). Only the epoch's last batch can be short, and it stays last, so the
    flat order still cuts into exactly these batches."""
    pool_size = batch_size * pool_batches
    bucketed: list[int] = []
    for start in range(0, len(order), pool_size):
        pool = order[start:start + pool_size]
        position = {index: start + offset for offset, index in enumerate(pool)}
        by_length = sorted(pool, key=lambda index: lengths[index])
        batches = [by_length[i:i + batch_size] for i in range(0, len(by_length), batch_size)]
        short = [batches.pop()] if len(batches[-1]) < batch_size else []
        batches.sort(key=lambda batch: min(position[index] for index in batch))
        bucketed += [index for batch in batches + short for index in batch]
    return bucketed


class EndlessBatches:
    """A DataLoader cycled forever, resumable: its state is the number of
    batches drawn so far. Register it with the Checkpointer. ``lengths`` and ``pool_batches``
    bucket it by length as ``EpochBatches`` does."""

    def __init__(self, loader: DataLoader, lengths: Sequence[int] | None = None, pool_batches: int | None = None):
        self.epochs = EpochBatches(loader, lengths, pool_batches)
        self.drawn = 0
        self._batches: Iterator | None = None

    def __iter__(self) -> EndlessBatches:
        return self

    def __next__(self):
        if self._batches is None:
            self._batches = self._from_position(self.drawn)
        batch = next(self._batches)
        self.drawn += 1
        return batch

    def _from_position(self, drawn: int) -> Iterator:
        epoch = drawn // len(self.epochs)
        while True:
            yield from self.epochs.epoch(epoch, resume_from=drawn)
            epoch += 1

    def state_dict(self) -> dict:
        return {"drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        self.drawn = int(state["drawn"])
        self._batches = None  # restarted lazily at the restored position


# --------------------------------------------------------------------------------------------
# Random number generators


def capture_rng() -> dict:
    numpy_state = np.random.get_state(legacy=False)
    # As a tensor, so the checkpoint loads with torch.load(weights_only=True).
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    return {
        "python": random.getstate(),
        "numpy": numpy_state,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    elif state["cuda"] or torch.cuda.is_available():
        saved, here = ("with" if flag else "without" for flag in (state["cuda"], torch.cuda.is_available()))
        _report(f"saved {saved} CUDA, resumed {here}: the run will not repeat bit for bit")


# --------------------------------------------------------------------------------------------
# Checkpoints


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


class Checkpointer:
    """Saves the training state to ``folder`` every ``every_steps`` updates and restores it.

    ``model``: its parameters with requires_grad are saved (frozen ones are the job's to reload).
    ``stateful``: optimizers, schedulers, data streams... by name.
    ``tensors``: further tensors (buffers) by name, restored in place.
    ``extra``: a JSON-able dict the loop keeps its progress in; restored in place, down to the
    dicts and lists inside it, so references the loop holds to them stay valid.
    ``fingerprint``: ``job_fingerprint(...)`` of the job; a checkpoint with another one is ignored.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        fingerprint: str,
        every_steps: int,
        model: nn.Module,
        stateful: Mapping[str, Stateful] | None = None,
        tensors: Mapping[str, torch.Tensor] | None = None,
        extra: dict | None = None,
    ):
        if not isinstance(every_steps, int) or every_steps < 1:
            raise ValueError(f"checkpoint every_steps must be a positive integer, not {every_steps!r}")
        self.folder = Path(folder)
        self.path = self.folder / CHECKPOINT_FILE
        self.fingerprint = fingerprint
        self.every_steps = every_steps
        self.model = model
        self.stateful = dict(stateful or {})
        self.tensors = dict(tensors or {})
        self.extra = extra if extra is not None else {}
        self.saved_step: int | None = None

    # ---- saving

    def after_step(self, step: int) -> bool:
        """Call after each update with the number of updates done; saves when one is due."""
        if step % self.every_steps:
            return False
        self.save(step)
        return True

    def complete(self, step: int) -> None:
        """Save the final state (unless the last checkpoint holds it already) and keep it.

        Snakemake discards the outputs of jobs that ended while it was being interrupted; run
        again, such a job restores this state and rewrites the same outputs in seconds instead of
        training again. ``remove_finished_checkpoints`` clears the folders once a run succeeds.
        """
        if self.saved_step != step:
            self.save(step)

    def save(self, step: int) -> None:
        state = self._collect(step)
        _check_finite_tensors(state, step, self.path)

        def write(temporary: str) -> None:
            with open(temporary, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())  # the data is on disk before the rename publishes it

        atomic.replace_file(self.path, write)
        _fsync_directory(self.folder)  # and the rename itself survives a crash
        self.saved_step = step

    def _collect(self, step: int) -> dict:
        return {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "step": step,
            "parameters": {name: p.detach().cpu() for name, p in trainable_parameters(self.model).items()},
            "tensors": {name: t.detach().cpu() for name, t in self.tensors.items()},
            "states": {name: component.state_dict() for name, component in self.stateful.items()},
            "extra": _to_json(self.extra, "checkpoint extra state"),
            "rng": capture_rng(),
        }

    # ---- restoring

    def restore(self) -> int:
        """Load the last checkpoint in place; return the number of updates it holds (0: start over)."""
        self._remove_unfinished_writes()
        if not self.path.exists():
            return 0
        state = self._read()
        if (state.get("format"), state.get("fingerprint")) != (FORMAT_VERSION, self.fingerprint):
            _report(
                f"ignoring {self.path}: it belongs to another job (fingerprint {state.get('fingerprint')}, "
                f"format {state.get('format')}; this job: {self.fingerprint}, {FORMAT_VERSION}); "
                "starting from step 0 and overwriting it"
            )
            return 0
        self._load(state)
        self.saved_step = state["step"]
        _report(f"resuming from step {state['step']} ({self.path})")
        return state["step"]

    def _read(self) -> dict:
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise CheckpointError(f"{self.path}: unreadable checkpoint ({error}); delete it to start over") from error

    def _load(self, state: dict) -> None:
        _copy_in_place(trainable_parameters(self.model), state["parameters"], "trainable parameters", self.path)
        _copy_in_place(self.tensors, state["tensors"], "tensors", self.path)
        _check_same_names(self.stateful, state["states"], "states", self.path)
        for name, component in self.stateful.items():
            try:
                component.load_state_dict(state["states"][name])
            except (ValueError, KeyError, RuntimeError) as error:
                raise CheckpointError(f"{self.path}: cannot load the state of {name!r}: {error}") from error
        _refill(self.extra, json.loads(state["extra"]))
        restore_rng(state["rng"])  # last, so nothing above can draw from the restored generators

    def _remove_unfinished_writes(self) -> None:
        """Temporaries of a write that was killed: never read, removed so they do not pile up."""
        for leftover in self.folder.glob(f".{CHECKPOINT_FILE}.tmp-*"):
            leftover.unlink(missing_ok=True)

    # ---- cleaning up

    def finish(self) -> None:
        """Remove the folder: call once the job's outputs are written."""
        remove_checkpoints(self.folder)


def remove_checkpoints(folder: str | os.PathLike) -> None:
    """Remove a job's checkpoint folder (``Checkpointer.finish`` for code that holds no Checkpointer)."""
    if Path(folder).exists():
        shutil.rmtree(folder)


def remove_finished_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Remove every checkpoint folder under ``root`` whose job's output exists (the kept final
    states of ``Checkpointer.complete``); return them. Run once the whole run has succeeded,
    when every output is known complete."""
    removed = []
    for folder in sorted(Path(root).rglob(".*.checkpoint")):
        output = folder.with_name(folder.name.removeprefix(".").removesuffix(".checkpoint"))
        if folder.is_dir() and output.exists():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def _refill(target: dict, saved: dict) -> None:
    """Make ``target`` equal ``saved`` while keeping the dicts and lists the loop holds on to."""
    for key in set(target) - set(saved):
        del target[key]
    for key, value in saved.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _refill(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current[:] = value
        else:
            target[key] = value


def _check_same_names(current: Mapping, saved: Mapping, what: str, path: Path) -> None:
    # Same fingerprint but other names means the code changed under the checkpoint: never guess.
    missing, unexpected = sorted(set(current) - set(saved)), sorted(set(saved) - set(current))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: its {what} do not match this job's (missing: {missing}, unexpected: {unexpected}); "
            "delete the checkpoint to start over"
        )


def _copy_in_place(
    current: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor], what: str, path: Path
) -> None:
    _check_same_names(current, saved, what, path)
    with torch.no_grad():
        for name, tensor in current.items():
            if tensor.shape != saved[name].shape:
                raise CheckpointError(
                    f"{path}: {what} {name!r} has shape {tuple(saved[name].shape)} there, {tuple(tensor.shape)} here"
                )
            tensor.copy_(saved[name])


def _check_finite_tensors(state: dict, step: int, path: Path) -> None:
    """A diverged state is not a good checkpoint: refuse it, so the last good one stays on disk."""
    for group in ("parameters", "tensors"):
        for name, tensor in state[group].items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise TrainingError(
                    f"step {step}: {name!r} has non-finite values; not saving it over the last good checkpoint {path}"
                )


def _report(message: str) -> None:
    # stderr, like the progress bars: a Snakemake job sends it to its log (jobs.snakemake_job).
    print(f"checkpoint: {message}", file=sys.stderr, flush=True)


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
