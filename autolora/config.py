"""Configuration: schema validation (filling in defaults), checks a schema cannot
express, and the per-task view of the config that each job receives."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from autolora.data import CHECKSUM_FILE
from autolora.core.settings import InvalidSetting, SearchSettings
from autolora.errors import ConfigError
from autolora.families import get_family
from autolora.methods import (
    ADALORA,
    REGISTRY,
    apply_method,
    methods_of_task,
    own_sections,
    search_variant_method,
    search_variant_name,
    training_of,
)
from autolora.own_task import check_entry, without_metric
from autolora.plumbing.package_files import CONFIG_SCHEMA
from autolora.tasks import get_spec, register_own_tasks
from autolora.trials import tuning_trials


def validate_config(config: dict, schema: str | Path = CONFIG_SCHEMA, base_dir: str | Path = ".") -> dict:
    """Validate in place (filling defaults); raise ConfigError naming the offending key."""
    # Defaults belong to the top-level sections only: filled into task_overrides they would
    # silently reset, for that task, every setting the user changed in the main sections.
    overrides = copy.deepcopy(config.get("task_overrides", {}))
    variants = copy.deepcopy(config.get("search_variants", {}))
    trials = copy.deepcopy(config.get("tuning", {}).get("trials"))
    schema = _load_schema(schema)
    _validate_filling_defaults(config, schema)
    config["task_overrides"] = overrides
    config["search_variants"] = variants
    if trials is not None:  # a trial changes only what it names
        config["tuning"]["trials"] = trials
    _check_integers(config, schema)
    # own_tasks, length_buckets and search.hvp have no schema default: absent, they leave the config (and so
    # its hash and every job's params) exactly as it was before they existed.
    for name, entry in config.get("own_tasks", {}).items():
        check_entry(name, entry, base_dir)
    register_own_tasks(config.get("own_tasks", {}))
    _check_task_names(config)
    _check_tasks_in_overrides(config)
    _check_methods(config)
    _check_method_tasks(config)
    _check_tuning(config)
    for task in config["tasks"]:
        settings = task_config(config, task)
        _check_mirror(settings, base_dir)
        _check_model_folder(settings, base_dir)
        _check_search(settings)
        _check_eval_every_epoch(settings)
        _check_pilot_holdout(settings)
        _check_ablation_thresholds(config, task)
        _check_adalora_rank(config, task, settings)
        for variant in config["search_variants"]:
            _check_search(task_config(config, task, search_variant_method(variant)))
    return config


def _validate_filling_defaults(config: dict, schema: dict) -> None:
    """JSON Schema validation that also fills in each absent property's ``default``, as it
    descends (so the defaults of a filled-in section are filled in turn): what Snakemake's
    ``validate`` does, without making Snakemake a dependency of the package."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_then_check(validator, properties, instance, node):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, node)

    validator = validators.extend(Draft202012Validator, {"properties": fill_then_check})(schema)
    error = next(validator.iter_errors(config), None)  # the first, in the schema's order
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config key {key}: {error.message}")


def _load_schema(schema: str | Path) -> dict:
    import yaml

    return yaml.safe_load(Path(schema).read_text())


def _check_integers(config: dict, schema: dict) -> None:
    """JSON Schema counts 1.0 as an integer; here a float in an integer key (epochs: 1.0,
    seeds: [0.0]) is an error, before it becomes a ``seed0.0`` folder or a failed job."""

    def resolve(node: dict) -> dict:
        ref = node.get("$ref")
        return resolve(schema["$defs"][ref.rsplit("/", 1)[-1]]) if ref else node

    def walk(value, node: dict, key: str) -> None:
        node = resolve(node)
        types = node.get("type")
        types = [types] if isinstance(types, str) else types or []
        if "integer" in types and isinstance(value, float):
            raise ConfigError(f"config key {key}: {value!r} is not an integer")
        if isinstance(value, dict):
            properties = node.get("properties", {})
            for name, item in value.items():
                child = properties.get(name) or node.get("additionalProperties")
                if isinstance(child, dict):
                    walk(item, child, f"{key}.{name}" if key else name)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                walk(item, node["items"], f"{key}.{index}")

    walk(config, schema, "")


def _check_task_names(config: dict) -> None:
    for index, task in enumerate(config["tasks"]):
        try:
            get_spec(task)
        except ConfigError as exc:
            raise ConfigError(f"config key tasks.{index}: {exc}") from None


def _check_tasks_in_overrides(config: dict) -> None:
    unused = sorted(set(config["task_overrides"]) - set(config["tasks"]))
    if unused:
        raise ConfigError(f"config key task_overrides: {unused} not in tasks {config['tasks']}")


def _check_methods(config: dict) -> None:
    """Every entry of ``methods`` names a method of the registry that a config may list (the
    grid's candidates, the ablations and the search variants come from their own keys)."""
    selectable = [entry for entry in REGISTRY if entry.selectable]
    for index, method in enumerate(config["methods"]):
        if not any(entry.matches(method) for entry in selectable):
            names = ", ".join(entry.name for entry in selectable)
            raise ConfigError(f"config key methods.{index}: {method!r} is not a method ({names})")


def _check_method_tasks(config: dict) -> None:
    restricted = config["method_tasks"]
    unknown = sorted(set(restricted or []) - set(config["tasks"]))
    if unknown:
        raise ConfigError(f"config key method_tasks: {unknown} not in tasks {config['tasks']}")


# What makes the shared budget (autolora.stages.tuning): no method may tune it for itself.
SHARED_BUDGET_KEYS = ("epochs", "batch_size")


def _check_tuning(config: dict) -> None:
    """tuning.trials: every trained method of ``methods`` and nothing else, the same number of
    trials each, no trial changing the shared budget, the adalora section for AdaLoRA alone.
    A ladder (tuning.ladder) is the same for every method by construction."""
    if "tuning" not in config:
        return
    seed = config["tuning"]["seed"]
    if seed not in config["seeds"]:
        raise ConfigError(f"config key tuning.seed: {seed} is not one of seeds {config['seeds']}")
    if "ladder" in config["tuning"]:
        return
    trials = config["tuning"]["trials"]
    trained = [method for method in config["methods"] if training_of(method) is not None]
    for method in trials:
        if method not in trained:
            raise ConfigError(f"config key tuning.trials.{method}: not a trained method of methods {trained}")
    if missing := [method for method in trained if method not in trials]:
        raise ConfigError(f"config key tuning.trials: {missing} have no trials; every trained method of methods "
                          "is tuned alike")
    counts = {method: len(entries) for method, entries in trials.items()}
    if len(set(counts.values())) > 1:
        raise ConfigError(f"config key tuning.trials: every method needs the same number of trials, got {counts}")
    for method, entries in trials.items():
        for index, trial in enumerate(entries):
            where = f"config key tuning.trials.{method}.{index}"
            if shared := sorted(set(trial.get("retrain", {})) & set(SHARED_BUDGET_KEYS)):
                raise ConfigError(f"{where}.retrain: {shared} are the shared budget, the same for every method")
            if foreign := sorted(set(trial).intersection(OPTIONAL_SECTIONS) - set(own_sections(method))):
                raise ConfigError(f"{where}.{foreign[0]}: {method} does not read the {foreign[0]} section")


def _check_ablation_thresholds(config: dict, task: str) -> None:
    # λ = x/k is a weight of the k-simplex, so x beyond k would select nothing by construction.
    if "thresholds" not in config["ablations"]:
        return
    k = task_config(config, task)["lora"]["max_rank"]
    too_large = [units for units in config["ablation_thresholds"] if units > k]
    if too_large:
        raise ConfigError(f"config key ablation_thresholds: {too_large} (in units of 1/k) exceed "
                          f"k = {k} of task {task}; λ = x/k must be at most 1")


def _check_adalora_rank(config: dict, task: str, task_settings: dict) -> None:
    """AdaLoRA starts every module at rank k and prunes below it: k = 1 leaves it nothing to prune."""
    if ADALORA in methods_of_task(config, task) and task_settings["lora"]["max_rank"] < 2:
        raise ConfigError(f"config key lora.max_rank: adalora needs k >= 2 (its initial rank is k, its budget "
                          f"below it); task {task} has k = {task_settings['lora']['max_rank']}")


def _check_search(task_settings: dict) -> None:
    """Values and combinations of the search's settings that have no meaning (the checks are
    SearchSettings' own, the ones the search itself makes)."""
    try:
        SearchSettings(**task_settings["search"])
    except InvalidSetting as error:
        raise ConfigError(f"config key search.{error.field}: {error.reason} (task {task_settings['task']})") from None


def _check_eval_every_epoch(task_settings: dict) -> None:
    if task_settings["retrain"]["eval_every_epoch"] and not get_family(task_settings["family"]).per_epoch_dev_scores:
        raise ConfigError(f"config key retrain.eval_every_epoch: per-epoch dev scores exist for GLUE tasks only, "
                          f"not {task_settings['task']} (set it false in task_overrides.{task_settings['task']})")


def _check_pilot_holdout(task_settings: dict) -> None:
    # Data-to-text is scored by decoding each record against all its references; a training row has one.
    if "pilot_holdout" in task_settings["data"] and get_family(task_settings["family"]).decodes:
        raise ConfigError(f"config key data.pilot_holdout: task {task_settings['task']} is scored on whole records "
                          "with all their references, which its training rows do not make; pilots hold out GLUE "
                          "and NER rows only")


def _check_mirror(task_settings: dict, base_dir: str | Path) -> None:
    data, spec = task_settings["data"], get_spec(task_settings["task"])
    if data["source"] != "mirror" or spec.own:
        return
    mirror = Path(base_dir) / data["mirror"]
    folder = spec.mirror_folder
    if not (mirror / folder).is_dir():
        raise ConfigError(f"config key data.mirror: {mirror} has no {folder}/ folder for task "
                          f"{task_settings['task']} (see docs/usage.md, 'Data')")
    if data["verify_checksums"] and not (mirror / CHECKSUM_FILE).is_file():
        raise ConfigError(f"config key data.verify_checksums: true, but {mirror / CHECKSUM_FILE} does not exist; "
                          "set it false to read an unverified mirror")


def _check_model_folder(task_settings: dict, base_dir: str | Path) -> None:
    """A model.name that is a folder must hold a model (transformers would first complain
    about a tokenizer)."""
    name = task_settings["model"]["name"]
    folder = Path(base_dir) / name
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise ConfigError(f"config key model.name: {folder} is a folder without a model in it (no config.json)")


SECTIONS = ("data", "model", "lora", "search", "ranks", "retrain", "generate", "resources")
# Sections without a schema default: absent, they stay out of every view (and so of job params).
OPTIONAL_SECTIONS = ("adalora",)


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def task_config(config: dict, task: str, method: str = "autolora", trial: int | None = None) -> dict:
    """Everything one job of ``task`` needs: the sections with that task's overrides merged in,
    and what ``method`` changes in them (``autolora.methods.apply_method``); for one of the
    method's tuning trials (``autolora.trials``), the trial's settings too and its index
    (``trial``)."""
    sections = {key: config[key] for key in SECTIONS}
    sections.update({key: config[key] for key in OPTIONAL_SECTIONS if key in config})
    merged = deep_merge(sections, config["task_overrides"].get(task, {}))
    if (variant := search_variant_name(method)) is not None:
        merged = deep_merge(merged, config["search_variants"][variant])
    if trial is not None:
        merged = deep_merge(merged, tuning_trials(config, method)[trial])
    for section in set(OPTIONAL_SECTIONS) - set(own_sections(method)):  # only its readers rerun on it
        merged.pop(section, None)
    spec = get_spec(task)
    merged.update(device=config["device"], precision=config["precision"], task=task, family=spec.family,
                  num_labels=spec.num_labels)
    if spec.own:  # every job of the task reads it: each process registers it (autolora.jobs)
        merged["own_task"] = copy.deepcopy(config["own_tasks"][task])
    if trial is not None:
        merged["trial"] = trial
    return apply_method(merged, method)


# What each stage's jobs read from their config view (``task_config``). A job's Snakemake params
# and its checkpoint fingerprint hold exactly this: a change anywhere else (retraining epochs,
# cluster time limits, decoding) reruns none of its jobs and does not void its checkpoints. An
# entry names a top-level field or section, or with a dot one key of a section. An own task's
# definition (files, columns, labels) is part of every view of its jobs, its main metric only of
# the stages that score.
MODEL_JOB = ("task", "family", "num_labels", "device", "precision", "model")
STAGE_INPUTS = {
    "prepare": ("task", "data"),
    "tokenize": ("task", "family", "model"),
    "search": (*MODEL_JOB, "lora", "search"),
    "ranks": ("task", "ranks"),
    "uniform_ranks": ("task", "family", "num_labels", "method", "model", "lora.targets"),
    "retrain": (*MODEL_JOB, "method", "trial?", "lora", "retrain", "search.val_fraction", "adalora?"),
    "grid_validate": (*MODEL_JOB, "method", "trial?", "retrain.eval_batch_size", "search.val_fraction"),
    "evaluate": (*MODEL_JOB, "method", "lora", "retrain.eval_batch_size", "generate"),
    "no_retrain": (*MODEL_JOB, "method", "lora", "search", "ranks", "retrain.eval_batch_size", "generate"),
}


SCORING_STAGES = ("grid_validate", "evaluate", "no_retrain")


def data_for_seed(data: dict, seed: int) -> dict:
    """The data section one seed's jobs read: with ``subset_per_seed`` the training subset is
    drawn with the run seed (``train_subset_seed``; the evaluation subset, if any, stays
    subset_seed's, the same for every seed), otherwise the section as it is."""
    return {**data, "train_subset_seed": int(seed)} if data.get("subset_per_seed") else data


def config_digest(settings: dict) -> str:
    """A short, stable hash of a config part (canonical JSON), for folder names."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def stage_view(settings: dict, stage: str) -> dict:
    """The part of a job's config view that ``stage`` reads."""
    view = {}
    if "own_task" in settings:
        own = settings["own_task"]
        view["own_task"] = copy.deepcopy(own if stage in SCORING_STAGES else without_metric(own))
    for entry in STAGE_INPUTS[stage]:
        if entry.endswith("?"):  # an optional section: in the view where the job's config has it
            entry = entry[:-1]
            if entry not in settings:
                continue
        section, _, key = entry.partition(".")
        if key:
            view.setdefault(section, {})[key] = copy.deepcopy(settings[section][key])
        else:
            view[section] = copy.deepcopy(settings[section])
    return view
