"""Tests for autolora.reporting.differences: the differences table of a run, and seeds pooled from
several runs of one experiment (``autolora intervals``)."""

import json

import pytest

from autolora.cli import main as cli
from autolora.reporting.differences import differences_table, pooled_examples, run_comparisons
from autolora.errors import DataError
from tests.test_report import metric_record

SCORES = {"autolora": [0.70, 0.72, 0.74, 0.71], "lora_r8": [0.60, 0.65, 0.70, 0.66],
          "lora_budget": [0.701, 0.719, 0.741, 0.709]}


def records(seeds=range(4), methods=SCORES):
    return [metric_record("rte", method, seed, {"accuracy": SCORES[method][seed]}, "accuracy")
            for method in methods for seed in seeds]


def test_the_table_has_a_row_per_baseline_with_its_interval_and_verdict():
    comparisons = run_comparisons(records(), ["rte"], list(range(4)))
    table = differences_table(comparisons, "test run")
    assert list(table.index) == ["RTE: autolora − lora_r8", "RTE: autolora − lora_budget"]
    assert table.loc["RTE: autolora − lora_r8", "difference (points)"] == "+6.50"  # d = 10, 7, 4, 5 points
    assert table.loc["RTE: autolora − lora_budget", "verdict"] == "equivalent (±1)"
    assert table.loc["RTE: autolora − lora_r8", "n seeds"] == "4"
    assert {row["baseline"] for row in table.attrs["tidy"]} == {"lora_r8", "lora_budget"}


def test_a_metric_stored_in_points_is_compared_in_points_not_hundredfold():
    # WebNLG's BLEU over all categories is scored 0-100; the tables show it as stored.
    bleu = {"autolora": [21.0, 22.0, 23.0, 22.0], "lora_r8": [22.0, 23.5, 23.5, 23.0]}
    webnlg = [dict(metric_record("webnlg", method, seed, {"BLEU_all": bleu[method][seed]}, "BLEU_all"), family="nlg")
              for method in bleu for seed in range(4)]
    (comparison,) = run_comparisons(webnlg, ["webnlg"], list(range(4)))
    row = differences_table([comparison], "test run").iloc[0]
    assert row["difference (points)"] == "-1.00"  # d = -1, -1.5, -0.5, -1 BLEU
    assert comparison["seeds_for_1pt"] < 10  # a spread of 0.43 BLEU, not of 43
    assert not comparison["equivalent"]


def write_run(root, name, seeds, methods=SCORES, commit="c0ffee", **config_changes):
    run = root / name
    for record in records(seeds, methods):
        folder = run / "glue" / "rte" / f"seed{record['seed']}" / record["method"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(record))
    config = {"run": name, "seeds": list(seeds), "methods": list(methods), "retrain": {"lr": 2e-3}, **config_changes}
    (run / "provenance.json").write_text(json.dumps({"config": config, "code": {"commit": commit, "dirty": False}}))
    return run


def test_intervals_pool_the_seeds_of_runs_with_the_same_settings(tmp_path):
    first = write_run(tmp_path, "cpu", [0, 1])
    second = write_run(tmp_path, "cpu-power", [2, 3], methods=["autolora", "lora_r8"])
    assert cli(["intervals", str(first), str(second), "--out", str(tmp_path / "out")]) == 0
    rows = {row.split("|")[1].strip(): row for row in (tmp_path / "out" / "differences.md").read_text().splitlines()
            if row.startswith("| RTE")}
    assert "| 4 |" in rows["RTE: autolora − lora_r8"]  # seeds 0-3 from both runs
    assert "| 2 |" in rows["RTE: autolora − lora_budget"]  # only the first run has it
    assert (tmp_path / "out" / "differences.png").stat().st_size > 0


def test_intervals_refuse_runs_of_other_settings_and_seeds_found_twice(tmp_path, capsys):
    first = write_run(tmp_path, "cpu", [0, 1])
    other = write_run(tmp_path, "other", [2, 3], retrain={"lr": 5e-4})
    assert cli(["intervals", str(first), str(other), "--out", str(tmp_path / "out")]) == 2
    assert "differ in config key 'retrain'" in capsys.readouterr().err
    twice = write_run(tmp_path, "again", [1, 2])
    assert cli(["intervals", str(first), str(twice), "--out", str(tmp_path / "out")]) == 2
    assert "both hold task rte, method autolora, seed 1" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["provenance.json"])
def test_intervals_need_each_runs_provenance(tmp_path, capsys, missing):
    run = write_run(tmp_path, "cpu", [0, 1])
    (run / missing).unlink()
    assert cli(["intervals", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "provenance.json: missing" in capsys.readouterr().err


def test_runs_pool_when_they_differ_only_in_how_a_setting_is_spelt_or_in_their_tasks(tmp_path, capsys):
    base = {"lr": 1e-3, "hypergradient": "second_order"}
    first = write_run(tmp_path, "cpu", [0, 1], search=base, tasks=["rte", "sst2"])
    explicit = write_run(tmp_path, "more", [2, 3], search={**base, "hvp": "finite_difference"}, tasks=["rte"])
    assert cli(["intervals", str(first), str(explicit), "--out", str(tmp_path / "out")]) == 0
    exact = write_run(tmp_path, "exact", [2, 3], search={**base, "hvp": "double_backward"})
    assert cli(["intervals", str(first), str(exact), "--out", str(tmp_path / "out")]) == 2
    assert "differ in config key 'search'" in capsys.readouterr().err


def test_intervals_refuse_runs_of_other_code_unless_told_it_is_harmless(tmp_path, capsys):
    first = write_run(tmp_path, "cpu", [0, 1], commit="aaaa1111")
    later = write_run(tmp_path, "cpu-power", [2, 3], commit="bbbb2222")
    assert cli(["intervals", str(first), str(later), "--out", str(tmp_path / "out")]) == 2
    assert "ran code bbbb2222" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert cli(["intervals", str(first), str(later), "--out", str(tmp_path / "out"), "--harmless", "bbbb"]) == 0
    assert "code of commits bbbb declared harmless" in (tmp_path / "out" / "differences.md").read_text()


def test_pooled_intervals_resample_the_evaluation_examples_where_runs_wrote_them(tmp_path):
    """Each run's predictions.txt and eval_labels.txt give the seeds × examples interval: here
    AutoLoRA is right on every example and LoRA r=8 on none, so every resample differs by 100 points."""
    run = write_run(tmp_path, "cpu", [0, 1, 2, 3], methods=["autolora", "lora_r8"])
    labels = "1\n0\n1\n"
    (run / "glue" / "rte" / "eval_labels.txt").write_text(labels)
    for path in run.rglob("metrics.json"):
        right = json.loads(path.read_text())["method"] == "autolora"
        path.with_name("predictions.txt").write_text(labels if right else "0\n1\n0\n")
    assert cli(["intervals", str(run), "--out", str(tmp_path / "out")]) == 0
    (row,) = [row for row in (tmp_path / "out" / "differences.csv").read_text().splitlines()[1:]]
    header = (tmp_path / "out" / "differences.csv").read_text().splitlines()[0].split(",")
    assert {"hier_low", "hier_high", "tost_p_holm", "verdict"} <= set(header)
    values = dict(zip(header, row.split(",")))
    assert float(values["hier_low"]) == float(values["hier_high"]) == 1.0
    (run / "glue" / "rte" / "seed0" / "lora_r8" / "predictions.txt").write_text("0\n1\n")
    with pytest.raises(DataError, match="2 predictions for 3 labels"):
        pooled_examples([run])
