"""The reduced config through the whole Snakemake DAG (prepare → report), in a temporary
working directory; and a bad config stopping Snakemake before any job runs."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, SHARED


def snakemake(workdir, configfile, *extra):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(configfile), "--cores", "2", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


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


@pytest.mark.slow
def test_reduced_pipeline_runs_to_the_report(tmp_path):
    config, path = write_config(tmp_path)
    result = snakemake(tmp_path, path)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results" / config["run"]
    for task in config["tasks"]:
        for seed in config["seeds"]:
            job = results / "glue" / task / f"seed{seed}"
            ranks = json.loads((job / "ranks.json").read_text())
            retrained = json.loads((job / "retrain.json").read_text())
            metrics = json.loads((job / "metrics.json").read_text())
            assert retrained["ranks"] == ranks["ranks"]  # PEFT got exactly the searched ranks
            assert metrics["total_rank"] == ranks["total_rank"]
            assert metrics["n_eval"] == len((job / "predictions.txt").read_text().splitlines())
            assert (job / "adapter" / "adapter_config.json").exists()
            assert (results / "benchmarks" / "search" / f"{task}-seed{seed}.tsv").exists()
    table = (results / "tables" / "glue.md").read_text()
    assert "RTE" in table and "STS-B" in table and "autolora" in table
    for figure in ("glue_ranks.png", "glue_alpha_trajectories.png"):
        assert (results / "figures" / figure).stat().st_size > 10_000
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["data"]["rte"]["checksums_verified"] is True
    assert len(provenance["config_sha256"]) == 64
