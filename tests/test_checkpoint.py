"""Checkpoints: an interrupted job (exception or SIGKILL) resumes and ends bit for bit where an
uninterrupted one ends; a diverged or foreign checkpoint is never resumed; no partial file is read."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from autolora.plumbing import checkpoint
from autolora.plumbing.checkpoint import (
    Checkpointer,
    EndlessBatches,
    EpochBatches,
    checkpoint_folder_for,
    job_fingerprint,
)
from autolora.core.settings import SearchSettings
from autolora.errors import CheckpointError, TrainingError
from tests import checkpoint_training as tiny
from tests.conftest import REPO, random_batch


class Interrupted(Exception):
    pass


def interrupt_after(stop_step):
    def maybe_interrupt(step):
        if step == stop_step:
            raise Interrupted(step)

    return maybe_interrupt


def assert_same_run(result, reference):
    assert result["steps"] == reference["steps"]
    assert result["losses"] == reference["losses"]
    assert result["parameters"] == reference["parameters"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted checkpointed run of the tiny job (seed 0)."""
    record, _ = tiny.train(tmp_path_factory.mktemp("reference"))
    return record


# ---- data order


def batches_equal(first, second):
    return len(first) == len(second) and all(
        all(torch.equal(a, b) for a, b in zip(x, y)) for x, y in zip(first, second)
    )


def test_epoch_batches_give_the_loaders_own_order_and_leave_the_global_rng_alone():
    dataset = tiny.tiny_dataset(0, tiny.TRAIN_SIZE)
    loader = tiny.seeded_loader(dataset, seed=3)
    resumable = EpochBatches(tiny.seeded_loader(dataset, seed=3))
    expected = [list(loader) for _ in range(3)]
    rng_before = torch.get_rng_state()
    assert all(batches_equal(list(resumable.epoch(e)), expected[e]) for e in (2, 0, 1))
    assert torch.equal(torch.get_rng_state(), rng_before)  # dropout masks stay where they were
    fresh = EpochBatches(tiny.seeded_loader(dataset, seed=3))
    assert batches_equal(list(fresh.epoch(1, resume_from=len(fresh) + 5)), expected[1][5:])
    assert list(fresh.epoch(0, resume_from=len(fresh) + 5)) == []


def test_unshuffled_loaders_resume_and_unseeded_shuffles_are_refused():
    dataset = tiny.tiny_dataset(0, 10)
    resumable = EpochBatches(DataLoader(dataset, batch_size=4))
    assert batches_equal(list(resumable.epoch(4, resume_from=4 * 3 + 1)), list(DataLoader(dataset, batch_size=4))[1:])
    with pytest.raises(ValueError, match="generator"):
        EpochBatches(DataLoader(dataset, batch_size=4, shuffle=True))


def test_endless_batches_cycle_as_endless_does_and_resume_from_their_state():
    dataset = tiny.tiny_dataset(1, tiny.VAL_SIZE)
    expected = tiny.endless(tiny.seeded_loader(dataset, seed=5))
    expected = [next(expected) for _ in range(11)]
    stream = EndlessBatches(tiny.seeded_loader(dataset, seed=5))
    assert batches_equal([next(stream) for _ in range(6)], expected[:6])
    resumed = EndlessBatches(tiny.seeded_loader(dataset, seed=5))
    resumed.load_state_dict(stream.state_dict())
    assert batches_equal([next(resumed) for _ in range(5)], expected[6:])


def as_tuples(batches):
    return [tuple(batch[key] for key in sorted(batch)) for batch in batches]


def test_the_projects_own_loader_is_a_drop_in():
    """make_loader (a tokenised datasets.Dataset, dynamic padding) wrapped: same batches, resumable."""
    from datasets import Dataset

    from autolora.model import load_tokenizer
    from autolora.training import make_loader

    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    encoded = tokenizer([" ".join(["word"] * (i % 7 + 1)) for i in range(23)], truncation=True, max_length=16)
    dataset = Dataset.from_dict({**encoded, "labels": [i % 2 for i in range(23)]})
    plain = make_loader(dataset, tokenizer, 4, shuffle=True, seed=7)
    resumable = EpochBatches(make_loader(dataset, tokenizer, 4, shuffle=True, seed=7))
    expected = [as_tuples(plain) for _ in range(2)]
    assert batches_equal(as_tuples(resumable.epoch(1, resume_from=len(resumable) + 2)), expected[1][2:])
    assert batches_equal(as_tuples(resumable.epoch(0)), expected[0])


def test_length_bucketing_keeps_each_epochs_rows_pads_less_and_resumes():
    """bucket_by_length rearranges the shuffle only: the same rows each epoch, full batches but
    the last, less padding; and a resumed epoch gives the rest of the same batches."""
    from datasets import Dataset

    from autolora.model import load_tokenizer
    from autolora.training import bucketing, make_loader

    rng = np.random.default_rng(0)
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    encoded = tokenizer([" ".join(["word"] * int(n)) for n in rng.integers(1, 40, 103)], truncation=True, max_length=48)
    dataset = Dataset.from_dict({**encoded, "labels": [i % 2 for i in range(103)]})
    lengths = [len(ids) for ids in encoded["input_ids"]]

    def loader():
        return make_loader(dataset, tokenizer, 4, shuffle=True, seed=7)

    plain, bucketed = EpochBatches(loader()), EpochBatches(loader(), **bucketing(dataset, 5))
    for epoch in range(3):
        order = bucketed.order(epoch)
        assert sorted(order) == sorted(plain.order(epoch)) == list(range(103)) and order != plain.order(epoch)
        padded = {name: sum(4 * max(lengths[i] for i in batch) for batch in
                            (source.order(epoch)[b:b + 4] for b in range(0, 103, 4)))
                  for name, source in (("plain", plain), ("bucketed", bucketed))}
        assert padded["bucketed"] < 0.8 * padded["plain"]
    batches = [batch["input_ids"].shape for batch in bucketed.epoch(1)]
    assert all(shape[0] == 4 for shape in batches[:-1]) and batches[-1][0] == 103 % 4
    fresh = EpochBatches(loader(), **bucketing(dataset, 5))
    assert batches_equal(as_tuples(fresh.epoch(1, resume_from=len(fresh) + 7)), as_tuples(bucketed.epoch(1))[7:])
    assert bucketing(dataset, None) == {}


# ---- (a) interrupted and resumed in-process


def test_the_resumable_loop_repeats_the_plain_loop(reference):
    assert_same_run(reference, tiny.train_plain())


def test_a_run_interrupted_twice_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path, reference):
    for stop_step in (14, 23):  # mid-epoch, between checkpoints (every 4 steps, 11 per epoch)
        with pytest.raises(Interrupted):
            tiny.train(tmp_path, after_update=interrupt_after(stop_step))
        assert torch.load(tmp_path / checkpoint.CHECKPOINT_FILE, weights_only=True)["step"] == stop_step // 4 * 4
    record, checkpointer = tiny.train(tmp_path)
    assert_same_run(record, reference)
    checkpointer.finish()
    assert not tmp_path.exists()


def test_a_run_stopped_after_its_last_checkpoint_resumes_to_its_end(tmp_path, reference):
    """Checkpoints each epoch (the default interval) and a stop after the final one, before the
    outputs: the resumed job runs no update and still has the progress to write them."""
    every_epoch = -(-tiny.TRAIN_SIZE // tiny.BATCH_SIZE)
    with pytest.raises(Interrupted):
        tiny.train(tmp_path, every=every_epoch, after_update=interrupt_after(tiny.EPOCHS * every_epoch))
    record, _ = tiny.train(tmp_path, every=every_epoch)
    assert_same_run(record, reference)


# ---- (b) SIGKILL


def run_job(folder, output, kill_step=None):
    arguments = [str(folder), str(output)] + ([str(kill_step)] if kill_step else [])
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "checkpoint_training.py"), *arguments],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_a_job_killed_with_sigkill_resumes_to_the_same_result(tmp_path, reference):
    """Two processes (killed, then resumed) end where the uninterrupted in-process run ends."""
    killed = run_job(tmp_path / "resumed.ckpt", tmp_path / "resumed.json", kill_step=18)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "resumed.json").exists()
    assert (tmp_path / "resumed.ckpt" / checkpoint.CHECKPOINT_FILE).exists()
    resumed = run_job(tmp_path / "resumed.ckpt", tmp_path / "resumed.json")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step 16" in resumed.stderr
    assert_same_run(json.loads((tmp_path / "resumed.json").read_text()), reference)
    assert [p.name for p in tmp_path.iterdir()] == ["resumed.json"]  # the checkpoint folder is gone


# ---- (c) non-finite losses and states


def test_a_nan_loss_stops_with_its_step_and_the_last_good_checkpoint_resumes(tmp_path, reference):
    with pytest.raises(TrainingError, match="step 10"):
        tiny.train(tmp_path, nan_at=10)
    assert torch.load(tmp_path / checkpoint.CHECKPOINT_FILE, weights_only=True)["step"] == 8
    record, _ = tiny.train(tmp_path)  # the cause removed, the job resumes from step 8
    assert_same_run(record, reference)


def test_a_non_finite_state_is_not_saved_over_the_last_good_one(tmp_path):
    model = tiny.TinyModel()
    checkpointer = Checkpointer(tmp_path, "job", 1, model)
    checkpointer.save(3)
    with torch.no_grad():
        model.head.bias[0] = float("inf")
    with pytest.raises(TrainingError, match=r"step 4: 'head.bias' has non-finite values"):
        checkpointer.save(4)
    assert Checkpointer(tmp_path, "job", 1, tiny.TinyModel()).restore() == 3


# ---- (d) checkpoints of other jobs


def test_a_checkpoint_of_another_seed_is_ignored_with_a_message(tmp_path, capsys):
    with pytest.raises(Interrupted):
        tiny.train(tmp_path, seed=0, after_update=interrupt_after(6))
    record, _ = tiny.train(tmp_path, seed=1)
    assert "ignoring" in capsys.readouterr().err
    other, _ = tiny.train(tmp_path / "other", seed=1)
    assert_same_run(record, other)


def test_a_checkpoint_of_another_model_under_the_same_fingerprint_is_an_error(tmp_path):
    Checkpointer(tmp_path, "job", 1, tiny.TinyModel()).save(2)
    model = tiny.TinyModel()
    model.head.requires_grad_(False)
    model.base.requires_grad_(True)
    with pytest.raises(CheckpointError, match=r"missing: \['base.bias', 'base.weight'\]"):
        Checkpointer(tmp_path, "job", 1, model).restore()


def test_fingerprints_follow_the_config_and_name_what_is_not_json():
    config = {"lr": 1e-3, "epochs": 2}
    assert job_fingerprint(config=config, seed=0) == job_fingerprint(seed=0, config=dict(reversed(config.items())))
    assert job_fingerprint(config=config, seed=0) != job_fingerprint(config=config, seed=1)
    with pytest.raises(TypeError, match="'device'"):
        job_fingerprint(device=torch.device("cpu"))


# ---- (e) no partial checkpoint is ever read


def test_a_write_killed_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    checkpointer = Checkpointer(tmp_path, "job", 1, tiny.TinyModel())
    checkpointer.save(5)

    def half_written(state, handle):
        handle.write(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        checkpointer.save(6)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.CHECKPOINT_FILE]
    assert Checkpointer(tmp_path, "job", 1, tiny.TinyModel()).restore() == 5


def test_leftover_temporaries_are_never_read_and_are_removed(tmp_path):
    leftover = tmp_path / f".{checkpoint.CHECKPOINT_FILE}.tmp-abc123.pt"  # what SIGKILL mid-write leaves
    leftover.write_bytes(b"half a checkpoint")
    assert Checkpointer(tmp_path, "job", 1, tiny.TinyModel()).restore() == 0
    assert not leftover.exists()


def test_an_unreadable_checkpoint_is_an_error_naming_it(tmp_path):
    (tmp_path / checkpoint.CHECKPOINT_FILE).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="checkpoint.pt: unreadable checkpoint"):
        Checkpointer(tmp_path, "job", 1, tiny.TinyModel()).restore()


def test_the_folder_sits_hidden_beside_the_output_and_finish_tolerates_its_absence(tmp_path):
    folder = checkpoint_folder_for(tmp_path / "search" / "rte_0.json")
    assert folder == tmp_path / "search" / ".rte_0.json.checkpoint"
    Checkpointer(folder, "job", 3, tiny.TinyModel()).finish()  # never saved: nothing to remove
    Checkpointer(folder, "job", 3, tiny.TinyModel()).save(3)
    checkpoint.remove_checkpoints(folder)
    assert list(tmp_path.iterdir()) == [tmp_path / "search"]
    with pytest.raises(ValueError, match="every_steps"):
        Checkpointer(folder, "job", 0, tiny.TinyModel())


# ---- the real bilevel search loop (autolora.stages.search.search_loop), interrupted and resumed


SEARCH_SETTINGS = {
    "optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0, "alpha_lr": 5e-2, "alpha_betas": [0.5, 0.999],
    "alpha_weight_decay": 0.0, "alpha_init": "ones", "hypergradient": "second_order", "inner_lr_factor": False,
    "train_head": True, "lora_dropout": 0.1, "log_every": 2, "fd_dropout": "replay",
    "hypergradient_fp32": True, "epochs": 2, "checkpoint_every": 2, "alpha_every": 1, "stop_when_stable": None,
}


def token_examples(seed, count):
    return [{key: value[0] for key, value in random_batch(seed + i, size=1).items()} for i in range(count)]


def search_job(tiny_bert, folder, monkeypatch, stop_step=None, unroll="sgd"):
    """autolora.stages.search.search_loop itself on a tiny BERT with dropout (second-order, RNG replays);
    ``stop_step`` raises Interrupted there, from the finiteness check the loop makes anyway."""
    from autolora.stages import search as search_module

    def check_or_stop(loss, step, stage):
        if step == stop_step:
            raise Interrupted(step)

    monkeypatch.setattr(search_module, "check_finite", check_or_stop)
    model = tiny_bert(seed=0)
    settings = SearchSettings(**SEARCH_SETTINGS, unroll=unroll)
    search, _ = search_module.build_search(model, settings, {"targets": ["query", "value"], "max_rank": 2, "alpha": 4})
    loader = DataLoader(token_examples(0, 10), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    val_batches = EndlessBatches(
        DataLoader(token_examples(50, 6), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
    )
    trajectory, _ = search_module.search_loop(search, EpochBatches(loader), val_batches, settings, folder,
                                              job_fingerprint(stage="search", seed=0, settings=SEARCH_SETTINGS), "cpu")
    return trajectory.record, {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("unroll", ["sgd", "optimizer"])
def test_the_bilevel_search_resumes_bit_for_bit(tiny_bert, tmp_path, monkeypatch, unroll):
    whole_record, whole_parameters = search_job(tiny_bert, tmp_path / "whole", monkeypatch, unroll=unroll)
    with pytest.raises(Interrupted):  # 3 batches an epoch, a checkpoint every 2 steps: resumes mid-epoch 2
        search_job(tiny_bert, tmp_path / "resumed", monkeypatch, stop_step=5, unroll=unroll)
    record, parameters = search_job(tiny_bert, tmp_path / "resumed", monkeypatch, unroll=unroll)
    assert record == whole_record
    assert all(torch.equal(parameters[name], whole_parameters[name]) for name in whole_parameters)


# ---- PEFT retraining (AdamW, linear warm-up schedule): retrain.train_epochs itself, interrupted


def retrain_job(tiny_bert, folder, monkeypatch, stop_step=None, steps_run=None):
    """autolora.stages.retrain.train_epochs on a tiny BERT; ``stop_step`` raises Interrupted there, from
    the per-step finiteness check the loop calls anyway, which also logs into ``steps_run``."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model

    from autolora.stages import retrain
    from autolora.model import load_tokenizer

    def check_or_stop(loss, step, stage):
        if steps_run is not None:
            steps_run.append(step)
        if step == stop_step:
            raise Interrupted(step)

    monkeypatch.setattr(retrain, "check_finite", check_or_stop)
    lora = LoraConfig(r=2, lora_alpha=4, lora_dropout=0.1, target_modules=["query", "value"],
                      modules_to_save=["classifier"])
    model = get_peft_model(tiny_bert(seed=0, dtype=torch.float32), lora)
    rows = [{key: value.tolist() for key, value in example.items()} for example in token_examples(0, 10)]
    train = Dataset.from_list(rows)
    settings = {"batch_size": 4, "lr": 1e-2, "weight_decay": 0.0, "epochs": 2, "warmup_ratio": 0.3,
                "checkpoint_every": None}
    losses, _ = retrain.train_epochs(model, train, load_tokenizer("all-MiniLM-L6-v2"), settings, 0, "cpu", "tiny",
                                   folder, job_fingerprint(stage="retrain", seed=0))
    return losses, {name: p.detach().clone() for name, p in model.named_parameters()}


def test_peft_retraining_resumes_bit_for_bit(tiny_bert, tmp_path, monkeypatch):
    whole_losses, whole_parameters = retrain_job(tiny_bert, tmp_path / "whole", monkeypatch)
    with pytest.raises(Interrupted):
        retrain_job(tiny_bert, tmp_path / "resumed", monkeypatch, stop_step=4)  # after epoch 1's checkpoint
    steps_run = []
    losses, parameters = retrain_job(tiny_bert, tmp_path / "resumed", monkeypatch, steps_run=steps_run)
    assert steps_run == [3, 4, 5]  # resumed from the checkpoint after epoch 1, not from scratch
    assert losses == whole_losses
    assert all(torch.equal(parameters[name], whole_parameters[name]) for name in whole_parameters)
