"""The kinds of training a method can name (``Method.trains`` in ``autolora.methods``), as objects:
how each builds its model, which of its parameters it trains and counts, how its ranks are read
back, and how retraining saves and evaluation loads it.

* ``LoraAdapter`` (``lora``): PEFT LoRA with exactly the given ranks (``rank_pattern``), or for
  GPT-2's fused projection the split q/v adapter of ``autolora.split_adapter``; saved as a PEFT
  adapter with its target modules in a fixed order, so that equal runs give equal bytes;
* ``AdaLoraAdapter`` (``adalora``): PEFT AdaLoRA, its total budget AutoLoRA's total rank;
* ``FullModel`` (``full``): every parameter; saves and loads the whole model (in the adapter's folder).

Stage modules ask ``adapter_kind(method)`` and call its methods: no branching on a method kind
outside the registry and this module.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from peft import AdaLoraConfig, PeftModel, TaskType, get_peft_model
from torch.nn import Parameter

from autolora import split_adapter
from autolora.core.injection import head_modules, relative_name, target_matrix_names
from autolora.core.lora_config import lora_config_for_ranks
from autolora.errors import ConfigError, TrainingError
from autolora.families import get_family
from autolora.methods import ADALORA_TRAINING, FULL, LORA, adalora_settings, training_of
from autolora.model import load_task_model


# ---- ranks and parameter counts -----------------------------------------------------------

def adapted_ranks(model) -> dict[str, int]:
    """Rank of every LoRA module in a PEFT (or split-q/v) model, keyed by the base model's
    module name."""
    from peft.tuners.lora import LoraLayer

    if not isinstance(model, PeftModel):
        return split_adapter.split_ranks(model)
    return {
        name.removeprefix("base_model.model."): module.r["default"]
        for name, module in model.named_modules()
        if isinstance(module, LoraLayer)
    }


def check_ranks(peft_model, ranks: dict[str, int]) -> None:
    expected = {name: r for name, r in ranks.items() if r > 0}
    actual = adapted_ranks(peft_model)
    if actual != expected:
        wrong = sorted(set(actual.items()) ^ set(expected.items()))
        raise TrainingError(f"PEFT did not apply the searched ranks; differing (module, rank): {wrong[:6]}")


def adalora_kept_ranks(model) -> dict[str, int]:
    """The ranks AdaLoRA kept per module: its final rank pattern, or where the schedule has not
    fixed one, the singular values its masks left non-zero."""
    from peft.tuners.adalora import AdaLoraLayer

    pattern = model.peft_config["default"].rank_pattern
    if pattern:
        return {_adalora_module_name(name): int(sum(kept)) for name, kept in pattern.items()}
    return {name.removeprefix("base_model.model."): int((module.lora_E["default"] != 0).sum())
            for name, module in model.named_modules() if isinstance(module, AdaLoraLayer)}


def _adalora_module_name(parameter: str) -> str:
    return parameter.removeprefix("base_model.model.").removesuffix(".default").removesuffix(".lora_E")


def adapter_parameter_names(model) -> set[str]:
    """The adapter's own parameters, whatever they are called: every module that declares
    ``adapter_layer_names`` (each PEFT tuner layer: LoRA's lora_A/lora_B, AdaLoRA's lora_E too,
    VeRA's vera_lambda_b/d, ...; our own LoRA of ``autolora.core.layer``) names its attributes."""
    names = set()
    for module_name, module in model.named_modules():
        for attribute in getattr(module, "adapter_layer_names", ()):
            prefix = f"{module_name}.{attribute}" if module_name else attribute
            held = getattr(module, attribute, None)
            if isinstance(held, Parameter):
                names.add(prefix)
            elif held is not None:
                names |= {f"{prefix}.{name}" for name, _ in held.named_parameters()}
    return names


def count_trainable(model) -> dict[str, int]:
    """The adapter's parameters (``lora``: the papers' count, whatever the adapter), the task
    head (classifier, pooler) and, with ``retrain.lora_bias: all``, the model's other biases,
    separately; anything else trainable (full fine-tuning) counts as ``other``."""
    head, adapter = tuple(head_modules(model)), adapter_parameter_names(model)
    counts = {"lora": 0, "head": 0, "bias": 0, "other": 0}
    for name, param in model.named_parameters():
        if param.requires_grad:
            counts[_parameter_kind(name, head, adapter)] += param.numel()
    return counts


def _parameter_kind(name: str, head: tuple[str, ...], adapter: set[str]) -> str:
    # First: PEFT names the head's trained copy ``….classifier.modules_to_save.default.weight``,
    # and its wrapper declares that copy as an adapter layer too.
    if any(f".{module}." in f".{name}" for module in head):
        return "head"
    if name in adapter:
        return "lora"
    return "bias" if name.endswith(".bias") else "other"


# ---- model builders -----------------------------------------------------------------------

def _peft_task_type(config: dict) -> TaskType:
    return TaskType[get_family(config["family"]).peft_task_type]


def _head_names(model) -> tuple[str, ...]:
    """The head modules by their full names, which PEFT's modules_to_save matches as suffixes."""
    return tuple(sorted(relative_name(name) for name in head_modules(model)))


def build_lora_model(config: dict, ranks: dict[str, int]):
    """The task's pretrained model with LoRA of exactly the searched ranks on it."""
    model = load_task_model(config)
    alpha, dropout, bias = config["lora"]["alpha"], config["retrain"]["lora_dropout"], config["retrain"]["lora_bias"]
    if split_adapter.is_split(ranks):
        if bias != "none":
            raise ConfigError(f"config key retrain.lora_bias: {bias!r} is not implemented for GPT-2's split q/v "
                              f"adapters (task {config['task']}); use none")
        split_adapter.inject_split_lora(model, ranks, alpha, dropout)
    else:
        model = get_peft_model(model, lora_config_for_ranks(ranks, alpha, dropout, _head_names(model),
                                                            _peft_task_type(config), bias))
    check_ranks(model, ranks)
    return model


def adalora_budget(autolora_total_rank: int, n_modules: int, max_rank: int) -> int:
    """AdaLoRA's total rank budget: exactly AutoLoRA's learned total rank, except where AutoLoRA
    kept every rank (n·k): PEFT prunes from k per module and cannot prune to its own start, so the
    budget is then n·k − 1, one rank short (``retrain.json`` records both totals)."""
    if max_rank < 2:  # the config check refuses it (autolora.config)
        raise ValueError(f"AdaLoRA needs k >= 2 (its initial rank is k, its budget below it), got {max_rank}")
    if autolora_total_rank < n_modules:
        raise TrainingError(f"AutoLoRA's total rank {autolora_total_rank} is below one rank for each of AdaLoRA's "
                            f"{n_modules} modules")
    return min(autolora_total_rank, n_modules * max_rank - 1)


def adalora_schedule(total_steps: int, settings: dict) -> dict:
    """PEFT's tinit, tfinal (at least one step, so the final rank pattern gets fixed), deltaT
    (at least one step), total_step and orth_reg_weight from the shares of ``adalora_settings``."""
    tinit = round(settings["tinit"] * total_steps)
    tfinal = max(1, round(settings["tfinal"] * total_steps))
    if tinit >= total_steps - tfinal:
        raise ConfigError(f"config keys adalora.tinit/tfinal, retrain.epochs: {total_steps} training steps leave "
                          "AdaLoRA no pruning phase; train longer or warm up for a smaller share")
    return {"tinit": tinit, "tfinal": tfinal, "deltaT": max(1, round(settings["mask_interval"] * total_steps)),
            "total_step": total_steps, "orth_reg_weight": settings["orth_reg_weight"]}


def build_adalora_model(config: dict, autolora_ranks: dict, total_steps: int):
    """The task's model with AdaLoRA on the target modules, and the budget it was given: from
    AutoLoRA's ranks record of the same task and seed (its exact total rank, and k of its search).
    PEFT's AdaLoraConfig takes an average rank per module (target_r) and prunes to target_r · n;
    its rank allocator's total is set to AutoLoRA's total itself, which need not be a multiple of n."""
    model = load_task_model(config)
    lora, k = config["lora"], autolora_ranks["k"]
    n_modules = len(target_matrix_names(model, tuple(lora["targets"])))
    total_budget = adalora_budget(autolora_ranks["total_rank"], n_modules, k)
    schedule = {"init_r": k, "target_r": max(1, total_budget // n_modules),
                **adalora_schedule(total_steps, adalora_settings(config))}
    head = _head_names(model)
    adalora = AdaLoraConfig(task_type=_peft_task_type(config), target_modules=list(lora["targets"]),
                            lora_alpha=lora["alpha"], lora_dropout=config["retrain"]["lora_dropout"],
                            bias=config["retrain"]["lora_bias"], modules_to_save=list(head) or None, **schedule)
    model = get_peft_model(model, adalora)
    allocator = model.base_model.rankallocator
    if len(allocator.name_set) != n_modules:
        raise TrainingError(f"AdaLoRA adapted {len(allocator.name_set)} modules, the targets name {n_modules}")
    allocator.target_bgt = total_budget
    return model, {"autolora_total_rank": autolora_ranks["total_rank"], "total_budget": total_budget, **schedule}


# ---- the kinds of training ----------------------------------------------------------------

Built = tuple[object, Callable[[int], None] | None, dict]  # model, what runs after each update, what to record


class AdapterKind(ABC):
    """What one kind of training (``Method.trains``) builds, trains, counts, saves and loads."""

    @abstractmethod
    def build(self, config: dict, ranks_record: dict | None, total_steps: int) -> Built:
        """The model to train, what runs after each update (or None), what its record keeps."""

    @abstractmethod
    def trained_ranks(self, model) -> dict[str, int]:
        """Each adapted module's rank after training (none for full fine-tuning)."""

    def trainable_counts(self, model) -> dict[str, int]:
        return count_trainable(model)

    @abstractmethod
    def save(self, model, out_dir, config: dict) -> None:
        """What evaluation reloads, into ``out_dir``."""

    @abstractmethod
    def load(self, config: dict, adapter_dir: str | Path):
        """The trained model, from what ``save`` wrote."""


class LoraAdapter(AdapterKind):
    """LoRA at the ranks of the method's ranks record (the default kind, ``lora``)."""

    def build(self, config: dict, ranks_record: dict | None, total_steps: int) -> Built:
        return build_lora_model(config, ranks_record["ranks"]), None, {}

    def trained_ranks(self, model) -> dict[str, int]:
        return adapted_ranks(model)

    def save(self, model, out_dir, config: dict) -> None:
        if isinstance(model, PeftModel):
            model.save_pretrained(str(out_dir))
            sort_target_modules(Path(out_dir) / "adapter_config.json")
        else:
            split_adapter.save_split_adapter(model, out_dir, config["lora"]["alpha"], config["model"]["name"])

    def load(self, config: dict, adapter_dir: str | Path):
        base = load_task_model(config)
        if split_adapter.is_split_adapter(adapter_dir):
            return split_adapter.load_split_adapter(base, adapter_dir)
        return PeftModel.from_pretrained(base, str(adapter_dir))


class AdaLoraAdapter(LoraAdapter):
    """PEFT AdaLoRA, its budget AutoLoRA's total rank (the ranks record is AutoLoRA's); its rank
    allocator runs after every update, and the ranks it kept are read from its masks."""

    def build(self, config: dict, ranks_record: dict | None, total_steps: int) -> Built:
        model, budget = build_adalora_model(config, ranks_record, total_steps)
        return model, model.base_model.update_and_allocate, {"adalora": budget}

    def trained_ranks(self, model) -> dict[str, int]:
        return adalora_kept_ranks(model)


class FullModel(AdapterKind):
    """Every parameter trains (no ranks); the whole model is saved, in the adapter's folder."""

    def build(self, config: dict, ranks_record: dict | None, total_steps: int) -> Built:
        return load_task_model(config).requires_grad_(True), None, {}

    def trained_ranks(self, model) -> dict[str, int]:
        return {}

    def trainable_counts(self, model) -> dict[str, int]:
        counts = count_trainable(model)
        return {**counts, "all": sum(counts.values())}  # the count full fine-tuning reports

    def save(self, model, out_dir, config: dict) -> None:
        model.save_pretrained(str(out_dir))

    def load(self, config: dict, adapter_dir: str | Path):
        return load_task_model({**config, "model": {**config["model"], "converted": str(adapter_dir)}})


ADAPTER_KINDS = {LORA: LoraAdapter(), ADALORA_TRAINING: AdaLoraAdapter(), FULL: FullModel()}


def adapter_kind(method: str) -> AdapterKind:
    """The kind of training a method names."""
    kind = training_of(method)
    if kind is None:
        raise ValueError(f"method {method!r} trains nothing of its own")
    return ADAPTER_KINDS[kind]


def sort_target_modules(adapter_config: Path) -> None:
    """PEFT writes ``target_modules`` from a set, in a different order each run: sorted, two
    runs with the same seed give byte-identical adapters."""
    settings = json.loads(adapter_config.read_text())
    if isinstance(settings.get("target_modules"), list):
        settings["target_modules"] = sorted(settings["target_modules"])
        adapter_config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def load_adapter(config: dict, adapter_dir: str | Path):
    """The retrained model back from its saved adapter (what evaluation and users load); for
    full fine-tuning, the saved model itself."""
    return adapter_kind(config["method"]).load(config, adapter_dir)
