"""Every config is validated before any job runs; errors name the key."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autolora.config import deep_merge, STAGE_INPUTS, stage_view, task_config, validate_config
from autolora.errors import ConfigError
from autolora.methods import methods_of_task, runs_own_search
from autolora.plumbing.package_files import CONFIG_SCHEMA
from tests.conftest import REPO, SHARED

TEST_CONFIG = yaml.safe_load((REPO / "config" / "test.yaml").read_text())


def config_with(**changes):
    config = copy.deepcopy(TEST_CONFIG)
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            config.setdefault(section, {})[key] = value
        else:
            config[section] = value
    return config


# Configs that run layered over others (`--configfile config/records/cpu-v1.yaml config/records/cpu-power.yaml`),
# paths under config/.
V1 = "records/cpu-v1.yaml"
LAYERED = {"records/cpu-power.yaml": (V1,), "records/cpu-tuned.yaml": (V1,), "records/cpu-tuned-adalora.yaml": (V1,),
           "records/cpu-cost.yaml": (V1,), "records/cpu-tuned-power.yaml": (V1, "records/cpu-tuned-adalora.yaml"),
           "records/cpu-pilot-holdout.yaml": ("records/cpu-pilot.yaml",), "cpu-ablations.yaml": ("cpu.yaml",),
           "records/cpu-grid-power.yaml": (V1, "records/cpu-power.yaml")}
SHIPPED = sorted(str(path.relative_to(REPO / "config")) for path in (REPO / "config").rglob("*.yaml"))


def layered_config(config_file: str) -> dict:
    config = {}
    for layer in (*LAYERED.get(config_file, ()), config_file):
        config = deep_merge(config, yaml.safe_load((REPO / "config" / layer).read_text()))
    return config


@pytest.mark.parametrize("config_file", SHIPPED)
def test_shipped_configs_are_valid(config_file):
    config = layered_config(config_file)
    validate_config(config, base_dir=REPO)
    assert config["lora"]["max_rank"] >= 1


@pytest.mark.parametrize("config_file", [name for name in SHIPPED if name.startswith("records/")])
def test_every_config_of_the_records_reproduces_its_committed_run(config_file):
    """A superseded config, layered as its header says, is the config its committed run recorded."""
    from autolora.plumbing.provenance import config_hash

    config = validate_config(layered_config(config_file), base_dir=REPO)
    folder = {"records/cpu-v1.yaml": "cpu-v1"}.get(config_file, config["run"])  # run "cpu", superseded
    provenance = REPO / "results" / "reference" / folder / "provenance.json"
    if not provenance.is_file():
        pytest.skip(f"{config_file}: no committed run of its own (a protocol other configs layer on)")
    assert config_hash(config) == json.loads(provenance.read_text())["config_sha256"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tasks": ["rte", "squad"]}, "config key tasks.1: unknown task 'squad'; built-in tasks: cola"),
        ({"seeds": []}, "config key seeds: [] should be non-empty"),
        ({"lora__max_rank": 0}, "config key lora.max_rank: 0 is less than the minimum of 1"),
        ({"lora": {"max_rank": 1}, "methods": ["autolora", "adalora"]},
         "config key lora.max_rank: adalora needs k >= 2 (its initial rank is k, its budget below it); task rte"),
        ({"ranks__threshold": 0.0}, "config key ranks.threshold: 0.0 is less than or equal to the minimum of 0"),
        ({"ranks__threshold": 1.5}, "config key ranks.threshold: 1.5 is greater than the maximum of 1"),
        ({"search__hypergradient": "third"}, "config key search.hypergradient: 'third' is not one of"),
        ({"search__epoch": 3}, "config key search: Additional properties are not allowed ('epoch' was unexpected)"),
        ({"task_overrides": {"cola": {"retrain": {"epochs": 2}}}}, "config key task_overrides: ['cola'] not in tasks"),
        ({"search": {"unroll": "adam"}}, "config key search.unroll: 'adam' is not one of"),
        ({"search": {"unroll": "optimizer", "hypergradient": "exact"}},
         "config key search.unroll: 'optimizer' works with hypergradient ['second_order', 'first_order'], not 'exact'"),
        ({"task_overrides": {"rte": {"search": {"unroll": "optimizer", "hypergradient": "single_level"}}}},
         "not 'single_level' (task rte)"),
        ({"search": {"unroll": "optimizer", "inner_lr_factor": True}}, "config key search.inner_lr_factor: true"),
        ({"retrain": {"eval_every_epoch": True}}, "config key retrain.eval_every_epoch: per-epoch dev scores exist "
                                                  "for GLUE tasks only, not e2e"),
        ({"retrain": {"lora_bias": "some"}}, "config key retrain.lora_bias: 'some' is not one of"),
        ({"search_variants": {"long": {"search": {"epoch": 8}}}},
         "config key search_variants.long.search: Additional properties are not allowed ('epoch' was unexpected)"),
        ({"search_variants": {"Long run": {"search": {}}}}, "config key search_variants: 'Long run' does not match"),
        ({"search_variants": {"official": {"search": {"unroll": "optimizer", "inner_lr_factor": True}}}},
         "config key search.inner_lr_factor: true"),
        ({"search": {"hvp": "double_backward", "fd_dropout": "fresh"}},
         "config key search.fd_dropout: 'fresh' draws new dropout masks"),
        ({"search": {"hvp": "jvp"}}, "config key search.hvp: 'jvp' is not one of"),
        ({"data": {"pilot_holdout": 0.3}}, "config key data.pilot_holdout: task e2e is scored on whole records"),
        ({"data": {"pilot_holdout": 1.0}}, "config key data.pilot_holdout: 1.0 is greater than or equal to the maximum"),
    ],
)
def test_bad_values_name_the_key(changes, message):
    with pytest.raises(ConfigError) as error:
        validate_config(config_with(**changes), base_dir=REPO)
    assert message in str(error.value)


def test_missing_mirror_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="config key data.mirror: .*nowhere has no glue/ folder"):
        validate_config(config_with(data__mirror=str(tmp_path / "nowhere")), base_dir=REPO)


def test_task_overrides_change_only_what_they_name():
    config = config_with(retrain={"epochs": 5, "batch_size": 4}, task_overrides={"rte": {"retrain": {"epochs": 9}}})
    validate_config(config, base_dir=REPO)
    rte, stsb = task_config(config, "rte"), task_config(config, "stsb")
    assert (rte["retrain"]["epochs"], rte["retrain"]["batch_size"]) == (9, 4)  # batch size inherited
    assert (stsb["retrain"]["epochs"], stsb["num_labels"], rte["num_labels"]) == (5, 1, 2)


def test_defaults_are_filled_from_the_schema():
    config = validate_config(config_with(), base_dir=REPO)
    assert config["search"]["hypergradient"] == "second_order"
    assert config["search"]["alpha_betas"] == [0.5, 0.999]
    assert config["ranks"] == {"threshold": None, "form": "softmax"}


def test_the_mirror_is_beside_the_repo():
    assert (SHARED / "data" / "glue").is_dir(), "tests need ../shared/data (see docs/usage.md, 'Data')"
    assert Path(TEST_CONFIG["data"]["mirror"]) == Path("../shared/data")


def test_the_schema_s_enums_are_the_search_settings_choices():
    """One definition of the allowed values: the schema offers exactly what SearchSettings accepts."""
    from autolora.core.settings import CHOICES

    properties = yaml.safe_load(CONFIG_SCHEMA.read_text())["$defs"]["search"]["properties"]
    assert {field: tuple(properties[field]["enum"]) for field in CHOICES} == CHOICES


def test_search_settings_hold_every_search_key_by_its_name_with_the_schema_s_defaults():
    """One typed object for the search section: a field per key, the same name, the same default
    (a key without a schema default is absent from job params; its field says what absence means)."""
    from dataclasses import fields

    from autolora.core.settings import SearchSettings

    properties = yaml.safe_load(CONFIG_SCHEMA.read_text())["$defs"]["search"]["properties"]
    defaults = {field.name: field.default for field in fields(SearchSettings)}
    assert list(defaults) == list(properties)
    for key, schema in properties.items():
        if "default" in schema:
            expected = tuple(schema["default"]) if isinstance(schema["default"], list) else schema["default"]
            assert defaults[key] == expected, key
    assert (defaults["hvp"], defaults["train_base"], defaults["length_buckets"]) == ("finite_difference", False, None)
    from autolora.core.settings import CHOICES
    from autolora.stages.search import LOWER_OPTIMIZERS

    assert tuple(LOWER_OPTIMIZERS) == CHOICES["optimizer"]  # the search builds every optimiser the config allows


def test_validating_a_config_builds_the_search_s_own_settings_without_torch():
    code = ("import sys; from autolora.config import validate_config; "
            "from autolora.core.settings import SearchSettings; "
            "import yaml; config = validate_config(yaml.safe_load(open('config/test.yaml')), base_dir='.'); "
            "settings = SearchSettings(**config['search']); "
            "assert 'torch' not in sys.modules, 'the config check imported torch'; print(settings.hypergradient)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "second_order"  # the schema default, filled in


def test_the_no_meta_ablation_needs_no_unroll():
    config = validate_config(config_with(search={"unroll": "optimizer"}, ablations=["no_meta", "first_order"]), base_dir=REPO)
    assert task_config(config, "rte", "autolora_no_meta")["search"]["unroll"] == "sgd"
    assert task_config(config, "rte", "autolora_first_order")["search"]["unroll"] == "optimizer"


def test_a_search_variant_changes_only_its_own_search_and_is_a_method():
    config = validate_config(config_with(search={"epochs": 1, "alpha_lr": 0.01},
                                         search_variants={"long": {"search": {"epochs": 8}}}), base_dir=REPO)
    assert config["search_variants"] == {"long": {"search": {"epochs": 8}}}  # no defaults filled in
    long = task_config(config, "rte", "search_long")
    assert (long["search"]["epochs"], long["search"]["alpha_lr"], long["method"]) == (8, 0.01, "search_long")
    assert task_config(config, "rte")["search"]["epochs"] == 1
    assert methods_of_task(config, "rte")[-1] == "search_long"
    assert runs_own_search("search_long") and not runs_own_search("lora_budget")


def test_the_paper_config_has_the_official_retraining_and_bionlp_settings():
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), base_dir=REPO)
    rte, bionlp = task_config(config, "rte"), task_config(config, "bionlp")
    assert config["search"]["unroll"] == "optimizer"
    assert rte["retrain"]["weight_decay"] == bionlp["retrain"]["weight_decay"] == 0.01  # torch AdamW's default
    assert rte["retrain"]["eval_every_epoch"] and not bionlp["retrain"]["eval_every_epoch"]
    assert bionlp["retrain"]["lora_bias"] == "all" and rte["retrain"]["lora_bias"] == "none"
    assert (bionlp["search"]["optimizer"], bionlp["search"]["weight_decay"]) == ("adamw", 0.01)


def test_each_stage_sees_only_what_it_reads():
    """A job's params (and checkpoint fingerprint) are its stage's view: changing the cluster
    budget, retraining or decoding leaves the search's view alone; its own settings do not."""
    from autolora.config import stage_view

    base = validate_config(config_with(), base_dir=REPO)
    changed = validate_config(config_with(resources={"search_minutes_per_epoch": 999}, retrain={"epochs": 7},
                                          generate={"num_beams": 1}, ranks={"threshold": 0.5}), base_dir=REPO)
    view = {name: stage_view(task_config(config, "rte"), "search") for name, config in
            (("base", base), ("changed", changed))}
    assert view["base"] == view["changed"]
    assert "resources" not in view["base"] and "retrain" not in view["base"]
    assert stage_view(task_config(base, "rte"), "prepare") == {"task": "rte", "data": base["data"]}
    assert stage_view(task_config(changed, "rte"), "retrain")["retrain"]["epochs"] == 7
    other_lr = validate_config(config_with(search={"lr": 0.5}), base_dir=REPO)
    assert stage_view(task_config(other_lr, "rte"), "search") != view["base"]
    assert stage_view(task_config(other_lr, "rte"), "retrain")["search"] == {"val_fraction": 0.3}


def test_length_buckets_enter_the_job_params_only_when_set():
    """A key added after the reference runs: at its default it is left out of every view, so
    finished jobs keep their params; set, it is part of the stages that train."""
    config = validate_config(config_with(), base_dir=REPO)
    assert all("length_buckets" not in stage_view(task_config(config, "rte"), stage).get(section, {})
               for stage in STAGE_INPUTS for section in ("search", "retrain"))
    config["search"]["length_buckets"] = 50
    assert stage_view(task_config(config, "rte"), "search")["search"]["length_buckets"] == 50


def test_the_code_version_is_the_checkouts_commit_and_none_outside_a_checkout(tmp_path):
    from autolora.plumbing.provenance import code_version

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert code_version(REPO)["commit"] == head
    outside = code_version(tmp_path)
    assert outside["commit"] is None and outside["dirty"] is None and outside["version"]
