"""Tests for autolora.reporting.cost: benchmark files (well-formed and not), costs over seeds,
the grid-search ratio, the cost table files and the quality-against-cost figure."""

import math

import matplotlib.image
import pandas as pd
import pytest

from autolora.reporting import cost, tables
from autolora.errors import DataError
from tests.test_report import SEEDS, metric_record

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
# The grid search: one run per candidate rank and the final run of the chosen rank.
GRID = ["lora_r1", "lora_r2", "lora_r4", "lora_r8", "grid"]
# Wall seconds per seed; CPU time is half the wall time, peak RSS depends on the stage only.
AUTOLORA_WALL = {"search": [100, 120, 140], "retrain": [60, 60, 60], "evaluate": [6, 6, 6]}
GRID_WALL = {"retrain": [50, 50, 50], "evaluate": [10, 10, 10]}
RSS_MB = {"search": 1000.0, "retrain": 800.0, "evaluate": 500.0}


def benchmark_line(wall, cpu, rss):
    """A row as Snakemake writes it, with the columns we ignore filled in."""
    return f"{wall}\t0:00:00\t{rss}\t2816.74\t653.35\t761.42\t1.36\t0.03\t88.21\t{cpu}"


def write_benchmark(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *(benchmark_line(*row) for row in rows)]) + "\n")
    return path


def benchmark_records(tmp_path, task="rte", methods=None, seeds=SEEDS):
    """Records and files for autolora (search, retrain, evaluate) and the grid's LoRA runs."""
    methods = methods or {"autolora": AUTOLORA_WALL, **{name: GRID_WALL for name in GRID}}
    records = []
    for method, walls in methods.items():
        for stage, per_seed in walls.items():
            for seed in seeds:
                wall = per_seed[SEEDS.index(seed)]
                path = write_benchmark(tmp_path / method / stage / f"{task}-seed{seed}.tsv",
                                       (wall, wall / 2, RSS_MB[stage]))
                records.append({"task": task, "method": method, "stage": stage, "seed": seed,
                                "path": str(path)})
    return records


def param_records():
    return [metric_record("rte", method, seed, {"accuracy": 0.7 + 0.01 * seed}, "accuracy",
                          params=params)
            for method, params in [("autolora", 38_400), ("lora_r8", 147_456)] for seed in SEEDS]


def summary_row(summary, method, stage):
    return summary.set_index(["method", "stage"]).loc[(method, stage)]


# ---------------------------------------------------------------- one benchmark file

def test_reads_wall_cpu_and_peak_rss(tmp_path):
    path = write_benchmark(tmp_path / "b.tsv", (207.52, 192.09, 1708.34))
    assert cost.read_benchmark(path) == {"wall_s": 207.52, "cpu_s": 192.09,
                                         "max_rss_mb": 1708.34, "repeats": 1}


def test_repeats_are_averaged(tmp_path):
    path = write_benchmark(tmp_path / "b.tsv", (10, 8, 100), (20, 12, 300))
    costs = cost.read_benchmark(path)
    assert (costs["wall_s"], costs["cpu_s"], costs["max_rss_mb"]) == (15, 10, 200)
    assert costs["repeats"] == 2


def test_not_measured_is_nan_and_left_out_of_the_mean_of_repeats(tmp_path):
    only_na = cost.read_benchmark(write_benchmark(tmp_path / "a.tsv", (3.5, "NA", "-")))
    assert math.isnan(only_na["cpu_s"]) and math.isnan(only_na["max_rss_mb"])
    partly = cost.read_benchmark(write_benchmark(tmp_path / "b.tsv", (4, "NA", "NA"), (6, 5, 90)))
    assert (partly["wall_s"], partly["cpu_s"], partly["max_rss_mb"]) == (5, 5, 90)


@pytest.mark.parametrize("text, message", [
    ("", r"b\.tsv is empty"),
    (HEADER + "\n", "has a header but no rows"),
    (HEADER.replace("\tcpu_time", "") + "\n1\t0:00:01\t2\t3\t4\t5\t6\t7\t8\n",
     r"b\.tsv, line 1: the header lacks column\(s\) \['cpu_time'\]"),
    (HEADER + "\n" + benchmark_line(1, 1, 1) + "\n1\t2\t3\n", r"b\.tsv, line 3: 3 fields, the header has 10"),
    (HEADER + "\n" + benchmark_line(1, 1, "lots") + "\n", r"b\.tsv, line 2, column max_rss: 'lots'"),
    (HEADER + "\n" + benchmark_line("NA", 1, 1) + "\n", r"b\.tsv, line 2, column s: wall time 'NA'"),
])
def test_malformed_files_raise_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "b.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        cost.read_benchmark(path)


def test_a_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"benchmark file .*nowhere\.tsv does not exist"):
        cost.read_benchmark(tmp_path / "nowhere.tsv")


# ---------------------------------------------------------------- records

def test_a_record_without_a_key_raises_naming_record_and_key(tmp_path):
    records = benchmark_records(tmp_path)
    del records[2]["seed"]
    with pytest.raises(ValueError, match=r"benchmark record 2 lacks key\(s\) \['seed'\]"):
        cost.read_benchmarks(records)


def test_an_unknown_stage_or_a_duplicate_record_raises(tmp_path):
    records = benchmark_records(tmp_path)
    with pytest.raises(ValueError, match="unknown stage 'train'"):
        cost.read_benchmarks([dict(records[0], stage="train")])
    with pytest.raises(ValueError, match="two benchmark records for task=rte method=autolora "
                                         "stage=search seed=0"):
        cost.read_benchmarks(records + [records[0]])


def test_a_record_whose_file_is_missing_raises_naming_the_file(tmp_path):
    records = benchmark_records(tmp_path)
    records[4]["path"] = str(tmp_path / "gone.tsv")
    with pytest.raises(DataError, match="gone.tsv does not exist"):
        cost.read_benchmarks(records)


# ---------------------------------------------------------------- over seeds

@pytest.fixture
def per_seed(tmp_path):
    return cost.per_seed_costs(benchmark_records(tmp_path), SEEDS, GRID)


def test_mean_and_std_over_seeds(per_seed):
    search = summary_row(cost.summarise_costs(per_seed), "autolora", "search")
    assert (search["wall_s_mean"], search["wall_s_std"]) == (120, 20)  # 100, 120, 140
    assert (search["cpu_s_mean"], search["cpu_s_std"]) == (60, 10)
    assert (search["max_rss_mb_mean"], search["max_rss_mb_std"]) == (1000, 0)
    assert search["n_seeds"] == 3 and search["seeds"] == "0;1;2"


def test_total_sums_times_and_takes_the_largest_peak(per_seed):
    total = summary_row(cost.summarise_costs(per_seed), "autolora", "total")
    assert total["wall_s_mean"] == 120 + 60 + 6
    assert total["wall_s_std"] == 20  # only the search varies
    assert total["max_rss_mb_mean"] == RSS_MB["search"]


def test_grid_search_is_the_sum_of_its_runs(per_seed):
    summary = cost.summarise_costs(per_seed)
    assert summary_row(summary, cost.GRID_METHOD, "retrain")["wall_s_mean"] == 5 * 50
    assert summary_row(summary, cost.GRID_METHOD, "total")["wall_s_mean"] == 5 * (50 + 10)
    assert summary_row(summary, cost.GRID_METHOD, "total")["max_rss_mb_mean"] == RSS_MB["retrain"]


def test_ratio_is_autolora_end_to_end_over_the_whole_grid(per_seed):
    ratios = cost.grid_ratios(per_seed).set_index("task")
    assert ratios.at["rte", "wall_s_autolora"] == 120 + 60 + 6  # search, retrain, evaluate
    assert ratios.at["rte", "wall_s_grid"] == 5 * (50 + 10)  # four candidates and the final run
    assert ratios.at["rte", "wall_s_ratio"] == pytest.approx(186 / 300)
    assert ratios.at["rte", "cpu_s_ratio"] == pytest.approx(93 / 150)


def test_no_ratio_without_a_grid(tmp_path):
    per_seed = cost.per_seed_costs(benchmark_records(tmp_path), SEEDS)
    assert cost.grid_ratios(per_seed).empty
    assert cost.GRID_METHOD not in set(per_seed["method"])


def test_a_missing_seed_raises_naming_task_method_stage_seed(tmp_path):
    records = [r for r in benchmark_records(tmp_path)
               if not (r["method"] == "autolora" and r["stage"] == "retrain" and r["seed"] == 1)]
    with pytest.raises(ValueError, match="missing benchmark for task=rte method=autolora "
                                         "stage=retrain seed=1"):
        cost.per_seed_costs(records, SEEDS)


def test_an_incomplete_grid_raises_naming_the_missing_run(tmp_path):
    records = [r for r in benchmark_records(tmp_path)
               if not (r["method"] == "lora_r4" and r["stage"] == "evaluate")]
    with pytest.raises(ValueError, match=r"task=rte lacks method=lora_r4 stage\(s\) \['evaluate'\]"):
        cost.per_seed_costs(records, SEEDS, GRID)


def test_an_unmeasured_stage_makes_the_total_not_measured(tmp_path):
    records = benchmark_records(tmp_path)
    evaluate = next(r for r in records if r["method"] == "autolora" and r["stage"] == "evaluate")
    write_benchmark(tmp_path / "na.tsv", (6, "NA", "NA"))
    evaluate["path"] = str(tmp_path / "na.tsv")
    table = cost.cost_table(records, [], SEEDS, GRID)
    assert table.set_index("Method").at["autolora", "Peak RSS (MB)"] == cost.NOT_MEASURED_CELL
    assert any("Snakemake wrote NA" in note for note in table.attrs["notes"])


# ---------------------------------------------------------------- table

@pytest.fixture
def table(tmp_path):
    return cost.cost_table(benchmark_records(tmp_path), param_records(), SEEDS, GRID)


def test_table_cells(table):
    rows = table.set_index("Method")
    assert list(rows.index) == ["autolora", *GRID, cost.GRID_METHOD]
    assert set(table.index) == {"RTE"}
    autolora = rows.loc["autolora"]
    assert autolora["Search wall (min)"] == "2.00 ± 0.33"  # 120 ± 20 s
    assert autolora["Retrain wall (min)"] == "1.00 ± 0.00"
    assert autolora["Total wall (min)"] == "3.10 ± 0.33"  # 186 s
    assert autolora["Total CPU (min)"] == "1.55 ± 0.17"
    assert autolora["Peak RSS (MB)"] == "1000 ± 0"
    assert autolora[tables.PARAMS_COLUMN] == "38.4K"
    assert autolora["Wall vs. grid"] == autolora["CPU vs. grid"] == "0.62x"
    assert rows.at["lora_r8", tables.PARAMS_COLUMN] == "0.15M"
    assert rows.at["lora_r1", tables.PARAMS_COLUMN] == tables.MISSING_CELL
    assert rows.at["lora_r1", "Search wall (min)"] == tables.MISSING_CELL
    assert rows.at[cost.GRID_METHOD, "Total wall (min)"] == "5.00 ± 0.00"
    assert rows.at[cost.GRID_METHOD, "Wall vs. grid"] == tables.MISSING_CELL
    assert rows.at[cost.GRID_METHOD, "CPU vs. grid"] == tables.MISSING_CELL


def test_cpu_ratio_is_not_measured_when_a_search_cpu_time_is_na(tmp_path):
    records = benchmark_records(tmp_path)
    search = next(r for r in records if r["method"] == "autolora" and r["stage"] == "search")
    search["path"] = str(write_benchmark(tmp_path / "na.tsv", (120, "NA", 1000)))
    autolora = cost.cost_table(records, [], SEEDS, GRID).set_index("Method").loc["autolora"]
    assert autolora["CPU vs. grid"] == cost.NOT_MEASURED_CELL
    assert autolora["Wall vs. grid"] != cost.NOT_MEASURED_CELL


def test_table_files_are_written(table, tmp_path):
    tables.write_table(table, tmp_path / "tables" / "cost", "Cost of each method")
    markdown = (tmp_path / "tables" / "cost.md").read_text()
    assert markdown.startswith("Table: Cost of each method")
    assert "| RTE | autolora | 2.00 ± 0.33 |" in markdown
    assert "grid search: one LoRA retrain + evaluate for each of lora_r1" in markdown
    latex = (tmp_path / "tables" / "cost.tex").read_text()
    assert r"RTE & autolora & 2.00 $\pm$ 0.33 &" in latex
    assert r"\# trainable params" in latex
    tidy = pd.read_csv(tmp_path / "tables" / "cost.csv")
    total = tidy[(tidy["method"] == "autolora") & (tidy["stage"] == "total")].iloc[0]
    assert total["wall_s_mean"] == 186 and total["wall_s_ratio"] == pytest.approx(0.62)  # 186 / 300
    assert tidy["wall_s_ratio"].notna().sum() == 1


# ---------------------------------------------------------------- figure

def test_quality_cost_figure_is_written(tmp_path):
    metrics = param_records()
    out = tmp_path / "figures" / "quality_cost.png"
    fig = cost.quality_cost_figure(benchmark_records(tmp_path), metrics, SEEDS, out, GRID)
    assert matplotlib.image.imread(out).ndim == 3
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "total wall time (min, log scale)"
    assert ax.get_ylabel() == "accuracy (%)"
    assert max(line.get_ydata()[0] for line in ax.lines) > 1  # on the tables' ×100 scale
    assert [text.get_text() for text in fig.legends[0].get_texts()] == ["autolora", "lora_r8"]


def test_a_method_with_metrics_but_no_costs_raises(tmp_path):
    metrics = param_records() + [metric_record("rte", "adalora", seed, {"accuracy": 0.6}, "accuracy")
                                 for seed in SEEDS]
    with pytest.raises(ValueError, match="task=rte method=adalora has metric records but no"):
        cost.quality_cost_figure(benchmark_records(tmp_path), metrics, SEEDS, tmp_path / "f.png")


def test_autolora_is_also_set_against_one_lora_run_and_adalora(tmp_path):
    single = {"retrain": [60, 60, 60], "evaluate": [6, 6, 6]}
    methods = {"autolora": AUTOLORA_WALL, "lora_r8": single,
               "adalora": {"retrain": [90, 90, 90], "evaluate": [6, 6, 6]}}
    records = benchmark_records(tmp_path, methods=methods)
    records += benchmark_records(tmp_path / "e2e", task="e2e", methods={"autolora": AUTOLORA_WALL})
    ratios = cost.single_run_ratios(cost.per_seed_costs(records, SEEDS)).set_index("baseline")
    assert ratios.at["lora_r8", "wall_s_ratio"] == pytest.approx(186 / 66)
    assert ratios.at["adalora", "wall_s_ratio"] == pytest.approx(186 / 96)
    rows = cost.cost_table(records, [], SEEDS).reset_index().set_index(["Task", "Method"])
    assert rows.at[("RTE", "autolora"), "Wall vs. lora_r8"] == "2.82x"
    assert rows.at[("RTE", "autolora"), "Wall vs. adalora"] == "1.94x"
    assert rows.at[("RTE", "lora_r8"), "Wall vs. adalora"] == tables.MISSING_CELL
    assert rows.at[("E2E", "autolora"), "Wall vs. lora_r8"] == tables.MISSING_CELL  # no LoRA run there
    assert rows.at[("RTE", "autolora"), "Wall vs. grid"] == tables.MISSING_CELL  # no grid in this run
