"""The reduced config through the whole Snakemake DAG (prepare → report), in a temporary
working directory; and a bad config stopping Snakemake before any job runs."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, SHARED


def snakemake(workdir, configfile, *extra):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(configfile), "--cores", "2", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=2700)


def write_config(tmp_path, **changes):
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["data"]["mirror"] = str(SHARED / "data")
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return config, path


def test_a_bad_config_stops_before_any_job(tmp_path):
    _, path = write_config(tmp_path, lora={"max_rank": 0})
    result = snakemake(tmp_path / "work", path, "-n")
    assert result.returncode != 0
    assert "config key lora.max_rank: 0 is less than the minimum of 1" in result.stdout + result.stderr
    assert not (tmp_path / "work" / "results").exists()


FAMILY = {"rte": "glue", "stsb": "glue", "e2e": "nlg", "webnlg": "nlg", "bionlp": "ner"}


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    """The reduced config (every task family) run once through the whole DAG."""
    tmp_path = tmp_path_factory.mktemp("reduced")
    config, path = write_config(tmp_path)
    result = snakemake(tmp_path, path)
    assert result.returncode == 0, result.stderr[-3000:]
    return config, tmp_path / "results" / config["run"]


def job_dirs(config, results):
    for task in config["tasks"]:
        for seed in config["seeds"]:
            yield task, results / FAMILY[task] / task / f"seed{seed}"


@pytest.mark.slow
def test_every_job_retrains_the_searched_ranks_and_scores_every_example(reduced_run):
    config, results = reduced_run
    for task, job in job_dirs(config, results):
        ranks = json.loads((job / "ranks.json").read_text())
        retrained = json.loads((job / "retrain.json").read_text())
        metrics = json.loads((job / "metrics.json").read_text())
        assert retrained["ranks"] == ranks["ranks"]  # the adapter got exactly the searched ranks
        assert metrics["total_rank"] == ranks["total_rank"]
        assert metrics["n_eval"] == len((job / "predictions.txt").read_text().splitlines())
        assert (job / "adapter" / "adapter_config.json").exists()
        assert (results / "benchmarks" / "search" / FAMILY[task] / f"{task}-seed{job.name[4:]}.tsv").exists()


@pytest.mark.slow
def test_data_to_text_jobs_decode_every_test_record_and_score_it(reduced_run):
    config, results = reduced_run
    expected = config["task_overrides"]["e2e"]["data"]["max_eval_examples"]
    for task in ("e2e", "webnlg"):
        metrics = json.loads((results / "nlg" / task / "seed0" / "metrics.json").read_text())
        assert metrics["n_eval"] == expected and metrics["n_eval_full"] > 500
        assert metrics["model"] == "SmolLM2-135M-Instruct"
    e2e = json.loads((results / "nlg" / "e2e" / "seed0" / "metrics.json").read_text())["metrics"]
    assert set(e2e) == {"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}
    webnlg = json.loads((results / "nlg" / "webnlg" / "seed0" / "metrics.json").read_text())["metrics"]
    assert {"BLEU_all", "METEOR_all", "TER_all"} <= set(webnlg)
    assert "BLEU-A" in (results / "tables" / "webnlg.md").read_text()


@pytest.mark.slow
def test_ner_jobs_tag_every_word_of_the_test_sentences(reduced_run):
    config, results = reduced_run
    prepared = next((results.parents[1] / "resources" / "data" / "bionlp").iterdir())
    from datasets import load_from_disk

    sentences = load_from_disk(str(prepared))["eval"]["tokens"]
    predicted = (results / "ner" / "bionlp" / "seed0" / "predictions.txt").read_text().splitlines()
    assert [len(line.split()) for line in predicted] == [len(words) for words in sentences]
    assert "F1 protein" in (results / "tables" / "bionlp_types.md").read_text()


@pytest.mark.slow
def test_the_report_holds_every_table_figure_and_the_provenance(reduced_run):
    config, results = reduced_run
    table = (results / "tables" / "glue.md").read_text()
    assert "RTE" in table and "STS-B" in table and "autolora" in table
    for name in ("glue", "e2e", "webnlg", "bionlp", "bionlp_types"):
        for ext in ("md", "tex", "csv"):
            assert (results / "tables" / f"{name}.{ext}").stat().st_size > 0
    for family in ("glue", "nlg", "ner"):
        for figure in ("ranks", "alpha_trajectories"):
            assert (results / "figures" / f"{family}_{figure}.png").stat().st_size > 10_000
    best = (results / "tables" / "glue_best_epoch.md").read_text()
    assert "optimistic" in best and "RTE" in best and "STS-B" not in best  # only RTE scores every epoch
    stsb_search = json.loads((results / "glue" / "stsb" / "seed0" / "search.json").read_text())
    assert stsb_search["settings"]["search"]["unroll"] == "optimizer"
    differences = pd.read_csv(results / "tables" / "differences.csv")
    assert set(differences["task"]) == {"rte"} and set(differences["baseline"]) == RTE_METHODS - {"autolora"}
    assert (differences["ci_low"] <= differences["mean_difference"]).all()
    assert "TOST p (±1, Holm)" in (results / "tables" / "differences.md").read_text()
    assert (results / "figures" / "differences.png").stat().st_size > 10_000
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["data"]["rte"]["checksums_verified"] is True
    assert len(provenance["config_sha256"]) == 64
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert provenance["code"]["commit"] == head and isinstance(provenance["code"]["dirty"], bool)


RTE_METHODS = {"autolora", "lora_r2", "grid", "adalora", "full_ft", "lora_budget", "random_ranks",
               "autolora_no_meta", "autolora_l0.5", "autolora_no_retrain", "autolora_first_order",
               "autolora_normalized"}


@pytest.mark.slow
def test_every_method_and_ablation_has_its_own_rows(reduced_run):
    config, results = reduced_run
    glue = pd.read_csv(results / "tables" / "glue.csv")
    assert set(glue.loc[glue["task"] == "rte", "method"]) == RTE_METHODS
    assert set(glue.loc[glue["task"] == "stsb", "method"]) == {"autolora"}  # method_tasks: [rte]
    assert "differs from autolora at p < 0.05" in (results / "tables" / "glue.md").read_text()
    best = pd.read_csv(results / "tables" / "glue_best_epoch.csv")
    assert set(best["method"]) == RTE_METHODS - {"autolora_no_retrain"}  # it does not retrain
    for seed in config["seeds"]:
        job = results / "glue" / "rte" / f"seed{seed}"
        grid_metrics = json.loads((job / "grid" / "metrics.json").read_text())
        grid = grid_metrics["grid"]
        assert grid["chosen_rank"] in config["grid_ranks"] and len(grid["validation_scores"]) == 2
        # The fair grid: its chosen rank trains on the same rows as AutoLoRA's ranks, its candidates on fewer.
        autolora_metrics = json.loads((job / "metrics.json").read_text())
        assert grid_metrics["n_train"] == autolora_metrics["n_train"]
        assert autolora_metrics["trivial_baseline"]["predictor"] == "majority class"
        assert json.loads((job / "grid_r1" / "retrain.json").read_text())["n_train"] < grid_metrics["n_train"]
        adalora = json.loads((job / "adalora" / "retrain.json").read_text())
        autolora_total = json.loads((job / "ranks.json").read_text())["total_rank"]
        assert adalora["adalora"]["autolora_total_rank"] == autolora_total
        assert sum(adalora["ranks"].values()) == adalora["adalora"]["total_budget"] == min(autolora_total, 95)
        for control in ("lora_budget", "random_ranks"):
            ranks = json.loads((job / control / "retrain.json").read_text())["ranks"]
            assert sum(ranks.values()) == autolora_total and set(ranks.values()) <= set(range(1, 9))
        full = json.loads((job / "full_ft" / "metrics.json").read_text())
        assert full["trainable_params"] > 20_000_000 and full["total_rank"] is None
        assert (job / "search_state.safetensors").exists()
        assert json.loads((job / "autolora_first_order" / "search.json").read_text())["settings"]["search"][
            "hypergradient"] == "first_order"


@pytest.mark.slow
def test_the_rank_diagnostics_cover_every_tasks_search(reduced_run):
    config, results = reduced_run
    diagnostics = pd.read_csv(results / "tables" / "rank_stability.csv")
    searches = diagnostics[diagnostics["search"] == "autolora"]
    assert sorted(searches["task"]) == sorted(config["tasks"]) and (searches["steps"] > 0).all()
    # The equal-budget controls' allocations, where they run, with their depth trend.
    controls = diagnostics[diagnostics["search"] != "autolora"]
    assert sorted(controls["search"]) == ["lora_budget", "random_ranks"] and set(controls["task"]) == {"rte"}
    assert controls["steps"].isna().all() and controls["rank_depth_p"].between(0, 1).all()


@pytest.mark.slow
def test_the_cost_table_and_figure_cover_every_method(reduced_run):
    config, results = reduced_run
    table = (results / "tables" / "cost.md").read_text()
    for method in ("grid search", "grid_r1", "grid_r4", "grid", "adalora", "autolora_no_retrain"):
        assert f"| {method} |" in table
    assert "x |" in table  # AutoLoRA's cost over the grid's on RTE
    assert (results / "benchmarks" / "retrain" / "glue" / "lora_r2" / "rte-seed0.tsv").exists()
    assert (results / "figures" / "quality_cost.png").stat().st_size > 10_000


@pytest.mark.slow
def test_snakemake_builds_the_html_report_with_every_table_and_figure(reduced_run, tmp_path):
    config, results = reduced_run
    workdir = results.parents[1]
    report = tmp_path / "report.html"
    result = snakemake(workdir, workdir / "config.yaml", "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    # Every table and figure of the run is in the report (each declared with a caption).
    made = [*(results / "tables").glob("*.md"), *(results / "figures").glob("*.png")]
    assert len(made) >= 12
    for path in made:
        assert path.name in html, path.name
    print(f"HTML report: {report.stat().st_size / 1e6:.1f} MB")  # shown with pytest -rP
    assert report.stat().st_size > 100_000


def jobs_planned(workdir, config_path) -> set[str]:
    """The rules `snakemake -n` would run, from its job-stats table."""
    result = snakemake(workdir, config_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats:")) + 3
    rules = set()
    for line in lines[start:]:
        if not line.strip() or line.startswith("total"):
            break
        rules.add(line.split()[0])
    return rules


@pytest.mark.slow
def test_a_config_change_reruns_only_the_stages_that_read_it(reduced_run, tmp_path):
    config, results = reduced_run
    workdir = results.parents[1]
    retrain_changed = {**config, "retrain": {**config["retrain"], "epochs": 2}}
    path = tmp_path / "retrain.yaml"
    path.write_text(yaml.safe_dump(retrain_changed))
    rerun = jobs_planned(workdir, path)
    assert rerun and rerun <= {"retrain", "retrain_method", "evaluate", "evaluate_method", "grid_choice",
                               "grid_validate", "report_table", "report_cost", "report_differences",
                               "report_figures", "provenance", "all"}
    (tmp_path / "mirror").symlink_to(SHARED / "data")
    mirror_changed = {**config, "data": {**config["data"], "mirror": str(tmp_path / "mirror")}}
    path = tmp_path / "mirror.yaml"
    path.write_text(yaml.safe_dump(mirror_changed))
    assert "prepare" in jobs_planned(workdir, path)


@pytest.mark.slow
def test_a_run_compares_with_a_reference_copy_cell_by_cell(reduced_run, tmp_path):
    import shutil

    config, results = reduced_run
    reference = tmp_path / "reference"
    shutil.copytree(results, reference, ignore=shutil.ignore_patterns("adapter"))
    changed = reference / "glue" / "rte" / "seed0" / "metrics.json"
    record = json.loads(changed.read_text())
    record["metrics"]["accuracy"] += 0.25
    changed.write_text(json.dumps(record))
    out = tmp_path / "compare.md"
    result = subprocess.run([sys.executable, "-m", "autolora.cli", "compare", str(results), str(reference),
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| rte | autolora |")]
    assert len(rows) == 1 and "-12.50" in rows[0] and "1 of 2" in rows[0]  # seeds 0, 1: one changed by 0.25
    assert "| stsb | autolora |" in out.read_text() and "2 of 2" in out.read_text()
