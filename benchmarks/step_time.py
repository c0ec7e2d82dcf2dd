"""Step-time benchmark: our selection-LoRA layer vs PEFT's LoRA, and the search step per mode.

Every variant runs on the same model and the same batch, interleaved round by round so that
machine noise hits them alike; the medians are compared as ratios to our LoRA step.

Targets (issue #2): our LoRA ≥ 0.95× PEFT throughput; first_order search step ≤ 2.1× a LoRA
step; second_order ≤ 4.0× (train, validation and two finite-difference passes). The official
``optimizer`` unroll (issue #12: the real Adam step, roll-back and a redone step) adds a fifth
pass, so about 5×. ``search.alpha_every`` K (issue #16) spends the hypergradient's three extra
passes on every K-th step only: K = 4 should cost about 1 + 3/4 = 1.75 LoRA steps a step.
``search.hvp`` (issue #16, lever 3) replaces the two finite-difference passes by an exact
Hessian-vector product: ``double_backward`` differentiates the training pass's gradient once
more, ``forward_over_reverse`` runs torch.func.jvp through a reverse pass.

    python benchmarks/step_time.py --threads 2 --batch-size 16 --seq-len 128

On a GPU: `--device cuda` (bf16 autocast under `--precision auto`, as the pipeline does) and
`--random-init roberta-base` for the paper's model shape with random weights (step time does
not depend on the weights; the GPU machines here cannot fetch roberta-base).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402

from autolora.core import AutoLoraConfig  # noqa: E402
from autolora.core.bilevel import BilevelSearch  # noqa: E402
from autolora.core.settings import SearchSettings  # noqa: E402
from autolora.core.injection import inject_selection_lora, lower_level_parameters, selection_parameters  # noqa: E402
from autolora.model import load_sequence_classifier  # noqa: E402
from autolora.training import autocast, pick_device, to_device, uses_bf16  # noqa: E402


# (benchmark name, hypergradient mode, unroll, α every K steps, Hessian-vector product)
SEARCH_VARIANTS = (
    ("search_first_order", "first_order", "sgd", 1, "finite_difference"),
    ("search_second_order", "second_order", "sgd", 1, "finite_difference"),
    ("search_second_order_optimizer", "second_order", "optimizer", 1, "finite_difference"),
    ("search_second_order_alpha_every_4", "second_order", "sgd", 4, "finite_difference"),
    ("search_second_order_double_backward", "second_order", "sgd", 1, "double_backward"),
    ("search_second_order_forward_over_reverse", "second_order", "sgd", 1, "forward_over_reverse"),
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


def base_model(model_name: str, random_init: str | None):
    """The pretrained classifier, or one of a named shape with random weights."""
    if random_init is None:
        return load_sequence_classifier(model_name, 2)
    from transformers import AutoConfig, AutoModelForSequenceClassification

    # roberta-base (the only choice) is transformers' default RoBERTa config: 12 layers, 768 wide.
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(AutoConfig.for_model("roberta", num_labels=2))


def ours(model_name: str, k: int, random_init: str | None, device: torch.device):
    model = base_model(model_name, random_init)
    inject_selection_lora(model, AutoLoraConfig(max_rank=k, lora_alpha=16))
    model.to(device).train()
    return model


def variants(model_name: str, k: int, train, val, random_init: str | None, device: torch.device):
    """name -> zero-argument callable doing one step."""
    our_model = ours(model_name, k, random_init, device)
    our_opt = torch.optim.Adam([p for p in our_model.parameters() if p.requires_grad], lr=3e-4)

    peft_model = get_peft_model(
        base_model(model_name, random_init),
        LoraConfig(task_type="SEQ_CLS", r=k, lora_alpha=16, lora_dropout=0.0, target_modules=["query", "value"]),
    )
    peft_model.to(device).train()
    peft_opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=3e-4)

    steps = {
        "lora_step_ours": lambda: lora_step(our_model, our_opt, train),
        "lora_step_peft": lambda: lora_step(peft_model, peft_opt, train),
    }
    for name, mode, unroll, alpha_every, hvp in SEARCH_VARIANTS:
        model = ours(model_name, k, random_init, device)
        lower, upper = lower_level_parameters(model), selection_parameters(model)
        search = BilevelSearch(
            model, lower, upper,
            torch.optim.Adam(lower.values(), lr=3e-4),
            torch.optim.Adam(upper.values(), lr=3e-4, betas=(0.5, 0.999)),
            SearchSettings(hypergradient=mode, lr=3e-4, unroll=unroll, hvp=hvp),
        )
        steps[name] = lambda search=search, k=alpha_every: search_steps(search, train, val, k)
    return steps


def search_steps(search: BilevelSearch, train, val, alpha_every: int) -> None:
    """One cycle of ``alpha_every`` search steps (α on the first), as run_search takes them;
    ``measure`` divides by the cycle length (``STEPS_PER_CALL``)."""
    for step in range(alpha_every):
        search.step(train, val if step == 0 else None)


STEPS_PER_CALL = {name: alpha_every for name, _, _, alpha_every, _ in SEARCH_VARIANTS}


def measure(steps: dict, rounds: int, per_round: int, device: torch.device, precision: str) -> dict[str, float]:
    def timed(step) -> float:
        start = time.perf_counter()
        with autocast(device, precision):
            for _ in range(per_round):
                step()
        if device.type == "cuda":  # kernels run asynchronously: wait for them before stopping the clock
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) / per_round

    for step in steps.values():  # warm-up: allocator, kernels, optimizer state
        timed(step)
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(timed(step))
    return {name: statistics.median(values) / STEPS_PER_CALL.get(name, 1) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--random-init", choices=["roberta-base"], default=None,
                        help="a model of this shape with random weights instead of --model")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:i]")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--max-rank", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device(args.device)
    train = to_device(make_batch(args.batch_size, args.seq_len, seed=0), device)
    val = to_device(make_batch(args.batch_size, args.seq_len, seed=1), device)
    steps = variants(args.model, args.max_rank, train, val, args.random_init, device)
    medians = measure(steps, args.rounds, args.per_round, device, args.precision)

    base = medians["lora_step_ours"]
    model = f"{args.random_init} (random weights)" if args.random_init else args.model
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"model {model}, batch {args.batch_size} x {args.seq_len}, k {args.max_rank}, {where}, "
          f"{'bf16 autocast' if uses_bf16(device, args.precision) else 'fp32'}, median of {args.rounds} rounds x {args.per_round} steps")
    print(f"{'variant':<44}{'s/step':>10}{'x our LoRA step':>18}")
    for name, seconds in medians.items():
        print(f"{name:<44}{seconds:>10.4f}{seconds / base:>18.2f}")
    print()
    throughput = medians["lora_step_peft"] / base
    print(f"our LoRA throughput / PEFT's: {throughput:.3f}  (target >= 0.95)")
    print(f"first_order search step / LoRA step: {medians['search_first_order'] / base:.2f}  (target <= 2.1)")
    print(f"second_order search step / LoRA step: {medians['search_second_order'] / base:.2f}  (target <= 4.0)")
    print(f"second_order search step, official optimizer unroll / LoRA step: "
          f"{medians['search_second_order_optimizer'] / base:.2f}  (expected about 5)")
    print(f"second_order search step, alpha_every 4 / LoRA step: "
          f"{medians['search_second_order_alpha_every_4'] / base:.2f}  (expected about 1.75)")
    for hvp in ("double_backward", "forward_over_reverse"):
        seconds = medians[f"search_second_order_{hvp}"]
        print(f"second_order search step, hvp {hvp} / LoRA step: {seconds / base:.2f}  "
              f"({seconds / medians['search_second_order']:.2f}x the finite-difference step)")


if __name__ == "__main__":
    main()
