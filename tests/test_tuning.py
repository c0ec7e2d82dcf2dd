"""Tests for the tuning protocol (autolora.stages.tuning, config ``tuning``): its checks, the trials'
config views, the choice, its place in the DAG, and that it never reads the reported split."""

import copy
import json
import subprocess
import sys

import pytest
import yaml
from datasets import load_from_disk

from autolora.config import stage_view, task_config, validate_config
from autolora.errors import ConfigError
from autolora.trials import TRIAL_FOLDER, initial_range, ladder_trials, tuned_methods, tuning_trials
from autolora.stages.tuning import choice_for_ranks, choose_trial, next_range, run_tuning_choice, run_tuning_round
from autolora.reporting.tables import tuning_note
from tests.conftest import REPO, SHARED
from tests.test_config import TEST_CONFIG

LRS = [1.0e-4, 3.0e-2]


def tuned_config(**tuning):
    config = copy.deepcopy(TEST_CONFIG)
    config["methods"] = ["autolora", "lora_r2", "adalora"]
    config["tuning"] = {"trials": {method: [{"retrain": {"lr": lr}} for lr in LRS] for method in config["methods"]},
                        **tuning}
    return config


def test_a_trial_is_its_method_with_the_trials_settings():
    config = tuned_config()
    config["tuning"]["trials"]["adalora"][1]["adalora"] = {"tinit": 0.2}
    config = validate_config(config, base_dir=REPO)
    assert config["tuning"]["seed"] == 0
    assert len(tuning_trials(config, "adalora")) == 2
    view = task_config(config, "rte", "adalora", trial=1)
    assert view["retrain"]["lr"] == LRS[1] and view["adalora"] == {"tinit": 0.2}
    assert (view["method"], view["trial"]) == ("adalora", 1)  # a method and an index, no name to parse
    assert view["retrain"]["epochs"] == task_config(config, "rte", "adalora")["retrain"]["epochs"]
    # The adalora section is in AdaLoRA's retraining params alone.
    assert stage_view(view, "retrain")["adalora"] == {"tinit": 0.2}
    assert "adalora" not in stage_view(task_config(config, "rte", "lora_r2", trial=1), "retrain")
    # The trial's index is in its jobs' params; a method's own retraining has none.
    assert stage_view(view, "grid_validate")["trial"] == 1
    assert "trial" not in stage_view(task_config(config, "rte", "adalora"), "retrain")


@pytest.mark.parametrize(("change", "message"), [
    (lambda trials: trials.pop("lora_r2"), r"\['lora_r2'\] have no trials; every trained method"),
    (lambda trials: trials["adalora"].pop(), "the same number of trials, got"),
    (lambda trials: trials.update(lora_r4=[{"retrain": {"lr": 1e-3}}] * 2), "tuning.trials.lora_r4: not a trained"),
    (lambda trials: trials["lora_r2"][0]["retrain"].update(epochs=9), r"tuning.trials.lora_r2.0.retrain: \['epochs'\] are the shared budget"),
    (lambda trials: trials["lora_r2"][0].update(adalora={"tinit": 0.2}), "tuning.trials.lora_r2.0.adalora: lora_r2 does not read the adalora section"),
])
def test_a_protocol_that_is_not_the_same_for_every_method_is_refused(change, message):
    config = tuned_config()
    change(config["tuning"]["trials"])
    with pytest.raises(ConfigError, match=message):
        validate_config(config, base_dir=REPO)


def test_the_tuning_seed_must_be_a_seed_of_the_run():
    with pytest.raises(ConfigError, match="tuning.seed: 7 is not one of seeds"):
        validate_config(tuned_config(seed=7), base_dir=REPO)


def test_the_best_trial_wins_the_earliest_on_ties_and_a_loss_is_minimised():
    def score(value, higher=True):
        return {"value": value, "higher_is_better": higher}

    assert choose_trial([score(0.6), score(0.7), score(0.65)]) == 1
    assert choose_trial([score(0.7), score(0.7)]) == 0
    assert choose_trial([score(2.0, False), score(1.5, False)]) == 1


TUNED_DRY_RUN = """
import sys
from snakemake.cli import main
sys.argv = ["snakemake", "-n", "--nolock", "--configfile", "config/test.yaml", sys.argv[1], "--quiet", "rules"]
main()
"""


def test_every_trained_method_waits_for_its_tuning_choice(tmp_path):
    """A dry run of the test config with a protocol: one choice per (task, tuned method), each
    from its trials on the tuning seed (trained, then scored on search-validation)."""
    protocol = {"trials": {method: [{"retrain": {"lr": lr}} for lr in LRS]
                           for method in ["autolora", *[m for m in TEST_CONFIG["methods"] if m != "autolora"]]}}
    (tmp_path / "tuning.yaml").write_text(yaml.safe_dump({"tuning": protocol}))
    result = subprocess.run([sys.executable, "-c", TUNED_DRY_RUN, str(tmp_path / "tuning.yaml")], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in output.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    tuned_on_rte = len(TEST_CONFIG["methods"])  # every method runs on RTE (method_tasks)
    choices = tuned_on_rte + len(TEST_CONFIG["tasks"]) - 1  # AutoLoRA alone elsewhere
    assert counts.get("tuning_choice") == choices, output[-3000:]
    trials = len(LRS) * choices
    assert counts["validate_trial"] == trials and counts["retrain_trial"] == trials


def run_protocol(tokenized, out, config, ranks):
    """Every trial of lora_r2 trained and scored as the rules do, then the choice."""
    from autolora.stages.grid import run_grid_validation
    from autolora.stages.retrain import run_retrain

    validation, logs = [], []
    for trial in range(len(tuning_trials(config, "lora_r2"))):
        view = task_config(config, "rte", "lora_r2", trial)
        folder = out / TRIAL_FOLDER.format(method="lora_r2", trial=trial)
        run_retrain(tokenized, ranks, view, "rte", 0, folder / "adapter", folder / "retrain.json")
        run_grid_validation(tokenized, folder / "adapter", view, 0, folder / "validation.json")
        validation.append(folder / "validation.json")
        logs.append(folder / "retrain.json")
    trials = config["tuning"]["trials"]["lora_r2"]
    run_tuning_round("lora_r2", trials, (0, len(trials) - 1), 0, validation, logs, out / "round0.json")
    return run_tuning_choice(out / "round0.json", out / "choice.json")


@pytest.mark.needs_shared("data/glue")
def test_poisoned_evaluation_labels_change_no_trial_score_and_no_choice(tmp_path):
    """The protocol trains on search-train and scores on search-validation: flipping every label
    of the evaluation split (the one the tables report) must leave every score and the choice as
    they were."""
    from tests.conftest import tiny_rte_job

    tiny_rte_job(tmp_path, 40)
    config = validate_config({
        "run": "tuning", "tasks": ["rte"], "seeds": [0], "methods": ["lora_r2"],
        "data": {"mirror": str(SHARED / "data")}, "model": {"name": "all-MiniLM-L6-v2", "max_length": 32},
        "retrain": {"epochs": 1, "batch_size": 8},
        "tuning": {"trials": {"lora_r2": [{"retrain": {"lr": lr}} for lr in LRS]}},
    }, base_dir=REPO)
    ranks = {"ranks": {f"bert.encoder.layer.{i}.attention.self.{m}": 2 for i in range(6) for m in ("query", "value")}}
    clean = run_protocol(tmp_path / "tokenized", tmp_path / "clean", config, ranks)
    data = load_from_disk(str(tmp_path / "tokenized"))
    data["eval"] = data["eval"].map(lambda row: {"labels": 1 - row["labels"]})
    data.save_to_disk(str(tmp_path / "poisoned"))
    poisoned = run_protocol(tmp_path / "poisoned", tmp_path / "dirty", config, ranks)
    assert poisoned["trials"] == clean["trials"] and poisoned["chosen"] == clean["chosen"]
    assert [trial["settings"]["retrain"]["lr"] for trial in clean["trials"]] == LRS
    assert all(trial["final_train_loss"] > 0 for trial in clean["trials"])
    record = json.loads((tmp_path / "clean" / "tune_lora_r2_t1" / "validation.json").read_text())
    assert (record["method"], record["trial"], record["rank"]) == ("lora_r2", 1, 2)
    assert "Tuning: every method's retraining settings chosen from its trials (2 per method" in tuning_note(
        [{"method": "lora_r2", "task": "rte", "tuning": json.loads((tmp_path / "clean" / "choice.json").read_text())}])[0]


# ---------------------------------------------------------------- the ladder

LADDER = {"setting": "retrain.lr", "start": 5.0e-4, "factor": 2, "rungs": 6, "max_extensions": 2}


def laddered_config():
    config = copy.deepcopy(TEST_CONFIG)
    config["methods"] = ["autolora", "lora_r2", "grid", "adalora"]
    config["tuning"] = {"ladder": {"start": 5.0e-4}}
    return validate_config(config, base_dir=REPO)


def test_a_ladder_tunes_every_trained_method_and_each_grid_candidate_alike():
    config = laddered_config()
    assert config["tuning"]["ladder"] == LADDER  # the schema's defaults
    assert tuned_methods(config, ["grid_r1", "grid_r4"]) == ["autolora", "lora_r2", "grid_r1", "grid_r4", "adalora"]
    rates = [trial["retrain"]["lr"] for trial in ladder_trials(LADDER)]
    assert rates == [1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2]
    assert initial_range(config, "lora_r2") == (2, 7)  # 5e-4 .. 1.6e-2 first
    assert task_config(config, "rte", "grid_r4", trial=9)["retrain"]["lr"] == 6.4e-2


@pytest.mark.parametrize(("tried", "chosen", "following"), [
    ((2, 7), 4, None),         # interior: done
    ((2, 7), 2, (1, 7)),       # the lowest rung: one more below
    ((2, 7), 7, (2, 8)),       # the highest: one more above
    ((1, 7), 1, (0, 7)),
    ((0, 7), 0, None),         # no rung left below: the hard limit
    ((2, 9), 9, None),
])
def test_an_edge_choice_extends_the_ladder_and_an_interior_one_stops_it(tried, chosen, following):
    assert next_range(tried, chosen, 10) == following


def write_trials(folder, values, first=0):
    validation, logs = [], []
    for index, value in enumerate(values, start=first):
        validation.append(folder / f"v{index}.json")
        validation[-1].write_text(json.dumps({"task": "rte", "seed": 0, "metric": "accuracy", "value": value,
                                              "higher_is_better": True}))
        logs.append(folder / f"r{index}.json")
        logs[-1].write_text(json.dumps({"epoch_losses": [0.7, 0.6]}))
    return validation, logs


def test_rounds_record_every_rung_tried_until_the_choice_is_interior(tmp_path):
    trials = ladder_trials(LADDER)
    # Round 0 tries rungs 2..7 and the top one wins: round 1 adds rung 8.
    first = run_tuning_round("lora_r2", trials, (2, 7), 0, *write_trials(tmp_path, [.5, .6, .7, .71, .72, .8], 2),
                             tmp_path / "round0.json")
    assert (first["chosen"], first["next"], first["at_limit"]) == (7, [2, 8], False)
    # Round 1: rung 8 scores lower, so rung 7 is interior now and the tuning ends.
    second = run_tuning_round("lora_r2", trials, (2, 8), 1, *write_trials(tmp_path, [.5, .6, .7, .71, .72, .8, .75], 2),
                              tmp_path / "round1.json")
    assert (second["chosen"], second["next"], second["at_limit"]) == (7, None, False)
    assert [trial["index"] for trial in second["trials"]] == list(range(2, 9))
    record = run_tuning_choice(tmp_path / "round1.json", tmp_path / "lora_r2.json")
    assert record["rounds"] == 2 and record["settings"] == {"retrain": {"lr": 1.6e-2}}
    assert "next" not in record and "round" not in record
    with pytest.raises(ValueError, match="not the last round"):
        run_tuning_choice(tmp_path / "round0.json", tmp_path / "again.json")


def test_a_choice_at_the_hard_limit_ends_the_tuning_and_says_so(tmp_path):
    trials = ladder_trials(LADDER)
    last = run_tuning_round("lora_r2", trials, (0, 7), 2, *write_trials(tmp_path, [.9, .8, .7, .6, .5, .4, .3, .2]),
                            tmp_path / "round2.json")
    assert (last["chosen"], last["next"], last["at_limit"]) == (0, None, True)


def test_the_grids_final_run_takes_the_tuning_of_the_candidate_it_chose():
    records = [{"method": "grid_r1", "settings": {"retrain": {"lr": 1e-3}}},
               {"method": "grid_r4", "settings": {"retrain": {"lr": 4e-3}}}]
    assert choice_for_ranks(records, {"grid": {"chosen_rank": 4}})["settings"] == {"retrain": {"lr": 4e-3}}
    assert choice_for_ranks(records[:1], None) == records[0]
    assert choice_for_ranks([], None) is None
    with pytest.raises(ValueError, match="grid_r8"):
        choice_for_ranks(records, {"grid": {"chosen_rank": 8}})


def test_a_ladder_and_listed_trials_are_one_protocol_or_the_other():
    config = tuned_config()
    config["tuning"]["ladder"] = {"start": 1e-3}
    with pytest.raises(ConfigError, match="config key tuning"):
        validate_config(config, base_dir=REPO)


ABLATION_DRY_RUN = """
import sys
from snakemake.cli import main
sys.argv = ["snakemake", "-n", "--nolock", "--configfile", "config/cpu.yaml", "config/cpu-ablations.yaml", "--cores",
            "1", "results/cpu-ablations/glue/sst2/seed1/autolora_no_meta/retrain.json"]
main()
"""


@pytest.mark.needs_shared("data/glue")
def test_an_ablation_retrains_with_autoloras_tuned_settings():
    result = subprocess.run([sys.executable, "-c", ABLATION_DRY_RUN], cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)
    output = result.stdout + result.stderr
    (inputs,) = [line for line in output.splitlines()
                 if "input:" in line and "autolora_no_meta/ranks.json" in line]
    assert "results/cpu-ablations/glue/sst2/tuning/autolora.json" in inputs, output[-3000:]


def test_the_tuning_note_names_each_task_s_choice_metric():
    def record(task, metric):
        return {"method": "lora_r8", "task": task, "tuning": {"metric": metric, "seed": 0, "settings": {"retrain": {"lr": 2e-3}},
                                                                "trials": [{}] * 6}}

    note = tuning_note([record("sst2", "accuracy"), record("stsb", "pearson")])[0]
    assert "by the accuracy (SST-2), pearson (STS-B) on the search-validation split" in note
    assert "lora_r8 on SST-2: retrain.lr = 0.002" in note
    assert "by the accuracy on the" in tuning_note([record("sst2", "accuracy"), record("rte", "accuracy")])[0]
