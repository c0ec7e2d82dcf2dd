"""Padding benchmark (issue #16, lever 4): how many token positions a training epoch pays for
under the pipeline's default batching (a seeded shuffle, each batch padded to its longest row)
against its sort-by-length bucketing (``length_buckets``: the shuffle cut into pools of
``--pool`` batches, each pool sorted by length and batched; ``autolora.plumbing.checkpoint.bucket_by_length``),
on real tokenised tasks.

Positions are what a forward pass costs on these short sequences (attention's quadratic part is
small at ≤ 128 tokens), so the ratio bounds what bucketing can save per step; `--time-steps N`
also times N forward-backward LoRA passes of MiniLM on each batching, side by side.

    python benchmarks/padding.py resources/tokenized/all-MiniLM-L6-v2-L128/sst2/<tag> [...]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def lengths_of(tokenized_dir: Path) -> np.ndarray:
    from datasets import load_from_disk

    return np.array([len(ids) for ids in load_from_disk(str(tokenized_dir))["train"]["input_ids"]])


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def bucketed_batches(lengths: np.ndarray, batch_size: int, pool: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The pipeline's own bucketing (``retrain/search.length_buckets``) of a random permutation."""
    from autolora.plumbing.checkpoint import bucket_by_length

    order = np.array(bucket_by_length(rng.permutation(len(lengths)).tolist(), lengths, batch_size, pool))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def padded_positions(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    return int(sum(len(batch) * lengths[batch].max() for batch in batches))


def time_steps(tokenized_dir: Path, batches: list[np.ndarray], steps: int) -> float:
    """Mean seconds of a forward-backward pass of MiniLM with PEFT LoRA r=8 on q, v over the first
    ``steps`` batches (the mean, as an epoch's time is their sum)."""
    from datasets import load_from_disk
    from peft import LoraConfig, get_peft_model

    from autolora.model import load_sequence_classifier, load_tokenizer
    from autolora.training import collator_for

    train = load_from_disk(str(tokenized_dir))["train"]
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    collate = collator_for(train, tokenizer)
    num_labels = 1 if train.features["labels"].dtype.startswith("float") else 2
    model = get_peft_model(load_sequence_classifier("all-MiniLM-L6-v2", num_labels),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"]))
    times = []
    columns = ["input_ids", "attention_mask", "labels"]
    for batch in batches[:steps]:
        rows = train.select(batch.tolist()).select_columns(columns)
        inputs = collate([dict(row) for row in rows])
        started = time.perf_counter()
        model(**inputs).loss.backward()
        times.append(time.perf_counter() - started)
        model.zero_grad(set_to_none=True)
    return statistics.mean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokenized", nargs="+", type=Path, help="tokenised task folders (the tokenize stage's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pool", type=int, default=50, help="batches per sorted pool")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--time-steps", type=int, default=0, help="also time this many steps of each batching")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"batch {args.batch_size}, pools of {args.pool} batches, {args.seeds} seeds")
    print(f"{'task':<8} {'rows':>6} {'mean len':>8} {'random':>10} {'bucketed':>10} {'ratio':>6}")
    for folder in args.tokenized:
        lengths = lengths_of(folder)
        rngs = [np.random.default_rng(seed) for seed in range(args.seeds)]
        plain = [padded_positions(random_batches(len(lengths), args.batch_size, rng), lengths) for rng in rngs]
        rngs = [np.random.default_rng(seed) for seed in range(args.seeds)]
        bucketed = [padded_positions(bucketed_batches(lengths, args.batch_size, args.pool, rng), lengths)
                    for rng in rngs]
        task = folder.parent.name
        print(f"{task:<8} {len(lengths):>6} {lengths.mean():>8.1f} {statistics.mean(plain):>10.0f} "
              f"{statistics.mean(bucketed):>10.0f} {statistics.mean(bucketed) / statistics.mean(plain):>6.3f}")
        if args.time_steps:
            rng = np.random.default_rng(0)
            plain_s = time_steps(folder, random_batches(len(lengths), args.batch_size, rng), args.time_steps)
            bucketed_s = time_steps(folder, bucketed_batches(lengths, args.batch_size, args.pool, rng), args.time_steps)
            print(f"{'':<8} step (mean of {args.time_steps}): random {plain_s:.3f} s, bucketed "
                  f"{bucketed_s:.3f} s, ratio {bucketed_s / plain_s:.3f}")


if __name__ == "__main__":
    main()
