"""Step-time benchmark: our selection-LoRA layer vs PEFT's LoRA, and the search step per mode.

Every variant runs on the same model and the same batch, interleaved round by round so that
machine noise hits them alike; the medians are compared as ratios to our LoRA step.

Targets (issue #2): our LoRA ≥ 0.95× PEFT throughput; first_order search step ≤ 2.1× a LoRA
step; second_order ≤ 4.0× (train, validation and two finite-difference passes).

    python benchmarks/step_time.py --threads 2 --batch-size 16 --seq-len 128
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402

from autolora.bilevel import BilevelSearch  # noqa: E402
from autolora.model import (  # noqa: E402
    inject_selection_lora,
    load_sequence_classifier,
    lower_level_parameters,
    selection_parameters,
)


def make_batch(size: int, length: int, seed: int, vocab: int = 30000) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(1000, vocab, (size, length), generator=generator),
        "attention_mask": torch.ones(size, length, dtype=torch.long),
        "labels": torch.randint(0, 2, (size,), generator=generator),
    }


def lora_step(model, optimizer, batch):
    model(**batch).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def ours(model_name: str, k: int):
    model = load_sequence_classifier(model_name, 2)
    inject_selection_lora(model, max_rank=k, lora_alpha=16)
    model.train()
    return model


def variants(model_name: str, k: int, train, val):
    """name -> zero-argument callable doing one step."""
    our_model = ours(model_name, k)
    our_opt = torch.optim.Adam([p for p in our_model.parameters() if p.requires_grad], lr=3e-4)

    peft_model = get_peft_model(
        load_sequence_classifier(model_name, 2),
        LoraConfig(task_type="SEQ_CLS", r=k, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"]),
    )
    peft_model.train()
    peft_opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=3e-4)

    steps = {
        "lora_step_ours": lambda: lora_step(our_model, our_opt, train),
        "lora_step_peft": lambda: lora_step(peft_model, peft_opt, train),
    }
    for mode in ("first_order", "second_order"):
        model = ours(model_name, k)
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(
            model, lower, upper,
            torch.optim.Adam(lower.values(), lr=3e-4),
            torch.optim.Adam(upper.values(), lr=3e-4, betas=(0.5, 0.999)),
            mode=mode, unroll_lr=3e-4,
        )
        steps[f"search_{mode}"] = lambda search=search: search.step(train, val)
    return steps


def measure(steps: dict, rounds: int, per_round: int) -> dict[str, float]:
    for step in steps.values():  # warm-up: allocator, kernels, optimizer state
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(per_round):
                step()
            times[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--max-rank", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = make_batch(args.batch_size, args.seq_len, seed=0)
    val = make_batch(args.batch_size, args.seq_len, seed=1)
    medians = measure(variants(args.model, args.max_rank, train, val), args.rounds, args.per_round)

    base = medians["lora_step_ours"]
    print(f"model {args.model}, batch {args.batch_size} x {args.seq_len}, k {args.max_rank}, "
          f"{args.threads} threads, median of {args.rounds} rounds x {args.per_round} steps")
    print(f"{'variant':<22}{'s/step':>10}{'x our LoRA step':>18}")
    for name, seconds in medians.items():
        print(f"{name:<22}{seconds:>10.4f}{seconds / base:>18.2f}")
    print()
    throughput = medians["lora_step_peft"] / base
    print(f"our LoRA throughput / PEFT's: {throughput:.3f}  (target >= 0.95)")
    print(f"first_order search step / LoRA step: {medians['search_first_order'] / base:.2f}  (target <= 2.1)")
    print(f"second_order search step / LoRA step: {medians['search_second_order'] / base:.2f}  (target <= 4.0)")


if __name__ == "__main__":
    main()
