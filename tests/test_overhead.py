"""benchmarks/overhead.py: the time inside a log's progress bars and the rest of a job's wall time."""

from benchmarks.overhead import overhead_by_stage, time_in_bars

SEARCH_LOG = (
    "search sst2 seed 0 epoch 1:   0%|          | 0/88 [00:00<?, ?it/s]"
    "\rsearch sst2 seed 0 epoch 1:  50%|█████     | 44/88 [01:10<01:10,  1.60s/it, train=0.4]"
    "\rsearch sst2 seed 0 epoch 1: 100%|██████████| 88/88 [02:27<00:00,  1.68s/it, train=0.3]"
    "\rsearch sst2 seed 0 epoch 2:  50%|█████     | 44/88 [00:50<00:50,  1.1s/it]"
    "\rsearch sst2 seed 0 epoch 2: 100%|██████████| 88/88 [1:01:40<00:00,  1.0s/it]\n"
    "some warning line\n"
    "predict: 100%|██████████| 24/24 [00:31<00:00,  1.33s/it]\n"
    "predict:  50%|█████     | 12/24 [00:05<00:05,  1.0s/it]"  # a second bar of the same name, cut short
)


def test_each_bar_counts_its_last_elapsed_time():
    assert time_in_bars(SEARCH_LOG) == 147 + 3700 + 31 + 5
    assert time_in_bars("no progress bars here\n") == 0


def write_benchmark(results, relative: str, wall_s: float) -> None:
    """A Snakemake benchmark file of one job under results/benchmarks/."""
    benchmark = results / "benchmarks" / relative
    benchmark.parent.mkdir(parents=True, exist_ok=True)
    benchmark.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{wall_s}\t0:00:00\t1\t{wall_s}\n")


def test_a_job_s_overhead_is_its_wall_time_minus_its_bars(tmp_path):
    write_benchmark(tmp_path, "search/glue/sst2-seed0.tsv", 3900.5)
    log = tmp_path / "logs" / "search" / "glue" / "sst2-seed0.log"
    log.parent.mkdir(parents=True)
    log.write_text(SEARCH_LOG)
    write_benchmark(tmp_path, "report_cost.tsv", 7.5)
    assert overhead_by_stage(tmp_path) == {"report_cost": [(7.5, 0)], "search": [(3900.5, 3883)]}


def test_a_glob_keeps_one_kind_of_job(tmp_path):
    for relative, wall_s in [("retrain/glue/grid_r2/sst2-seed0.tsv", 60.0), ("retrain/glue/lora_r8/sst2-seed0.tsv", 70.0),
                             ("evaluate/glue/grid/sst2-seed0.tsv", 20.0), ("report_cost.tsv", 4.0)]:
        write_benchmark(tmp_path, relative, wall_s)
    assert overhead_by_stage(tmp_path, "*/grid*") == {"evaluate": [(20.0, 0)], "retrain": [(60.0, 0)]}
    assert sum(map(len, overhead_by_stage(tmp_path).values())) == 4
