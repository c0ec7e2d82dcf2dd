"""`autolora compare`: a finished run beside the committed reference, cell by cell."""

import json
import math
import subprocess
import sys

import pytest

from autolora.reporting.compare import compare_cells, main_metric_values, markdown
from tests.conftest import REPO


def write_run(root, values: dict):
    """metrics.json files laid out as a run writes them; values: (task, method) -> [per seed]."""
    for (task, method), per_seed in values.items():
        for seed, value in enumerate(per_seed):
            folder = root / "glue" / task / f"seed{seed}" / ("" if method == "autolora" else method)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "metrics.json").write_text(json.dumps({
                "task": task, "method": method, "seed": seed, "main_metric": "accuracy",
                "metrics": {"accuracy": value}}))
    return root


def test_cells_compare_in_units_of_the_reference_seed_std(tmp_path):
    reference = write_run(tmp_path / "reference", {("rte", "autolora"): [0.5, 0.6, 0.7],
                                                   ("rte", "lora_r8"): [0.6, 0.6, 0.6],
                                                   ("mrpc", "autolora"): [0.7, 0.7, 0.7]})
    run = write_run(tmp_path / "run", {("rte", "autolora"): [0.5, 0.6, 0.8],
                                       ("rte", "lora_r8"): [0.6, 0.6, 0.6],
                                       ("cola", "autolora"): [0.1, 0.2, 0.3]})
    rows = {(row["task"], row["method"]): row for row in compare_cells(main_metric_values(run),
                                                                        main_metric_values(reference))}
    rte = rows["rte", "autolora"]
    assert rte["difference"] == pytest.approx(0.1 / 3)
    assert rte["difference_in_std"] == pytest.approx((0.1 / 3) / 0.1)  # reference std 0.1
    assert rte["identical_seeds"] == 2
    assert rows["rte", "lora_r8"]["difference"] == 0 and math.isnan(rows["rte", "lora_r8"]["difference_in_std"])
    assert rows["mrpc", "autolora"]["status"] == "only in the reference"
    assert rows["cola", "autolora"]["status"] == "only in this run"
    table = markdown(list(rows.values()), "run", "reference")
    assert "| rte | autolora | 63.33 | 60.00 | +3.33 | +0.33 | 2 of 3 |" in table


def test_the_command_names_a_missing_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autolora.cli", "compare", str(tmp_path / "nowhere"),
                             str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "nowhere: not a folder" in result.stderr


def test_the_committed_reference_compares_with_itself():
    reference = REPO / "results" / "reference" / "cpu-v1"
    rows = compare_cells(main_metric_values(reference), main_metric_values(reference))
    assert rows and all(row["difference"] == 0 and row["identical_seeds"] == len(row["seeds"]) for row in rows
                        if row["status"] == "compared")
