"""Snakemake job: GLUE table, rank and α-trajectory figures, provenance."""
import json
from pathlib import Path

from autolora import atomic
from autolora.config import task_config
from autolora.download import read_provenance
from autolora.jobs import snakemake_job
from autolora.provenance import config_hash, run_provenance
from autolora.report import GLUE_COLUMNS, alpha_trajectory_figure, glue_table, rank_figure, write_table


def load_all(paths):
    return [json.loads(Path(path).read_text()) for path in paths]


def budget(config, tasks, metrics):
    """What shaped the numbers, per task: training examples, search and retraining epochs."""
    n_train = {record["task"]: record["n_train"] for record in metrics}
    parts = []
    for task in tasks:
        settings = task_config(config, task)
        parts.append(
            f"{GLUE_COLUMNS[task]} {n_train[task]} train ex., search {settings['search']['epochs']} ep., "
            f"retrain {settings['retrain']['epochs']} ep."
        )
    return "; ".join(parts)


with snakemake_job(snakemake) as config:  # noqa: F821 (injected by Snakemake)
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    metrics = load_all(inputs.metrics)
    model = config["model"]["name"]
    run_info = {
        "model": model,
        "budget": budget(config, params.tasks, metrics),
        "command": params.command,
        "config sha256": config_hash(config)[:12],
    }
    table = glue_table(metrics, run_info, params.seeds)
    caption = (
        f"GLUE evaluation of AutoLoRA ({config['run']} run): {model}, LoRA on "
        f"{' and '.join(config['lora']['targets'])} with k = {config['lora']['max_rank']}, "
        f"{config['search']['hypergradient']} search, max length {config['model']['max_length']}; "
        f"mean ± std over seeds {params.seeds}."
    )
    write_table(table, str(Path(outputs.table[0]).with_suffix("")), caption)
    rank_figure(load_all(inputs.ranks), outputs.ranks)
    alpha_trajectory_figure(load_all(inputs.search), outputs.trajectories)
    data = {task: read_provenance(folder) for task, folder in zip(params.tasks, inputs.prepared)}
    atomic.write_json(outputs.provenance, run_provenance(config, params.command, data))
