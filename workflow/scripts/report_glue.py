"""Snakemake job: GLUE table, rank and α-trajectory figures, provenance."""
import json
from pathlib import Path

from autolora import atomic
from autolora.jobs import snakemake_job
from autolora.provenance import run_provenance
from autolora.report import alpha_trajectory_figure, glue_table, rank_figure, write_table


def load_all(paths):
    return [json.loads(Path(path).read_text()) for path in paths]


with snakemake_job(snakemake) as config:  # noqa: F821 (injected by Snakemake)
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    model = config["model"]["name"]
    table = glue_table(load_all(inputs.metrics), {"run": config["run"], "model": model}, params.seeds)
    caption = (
        f"GLUE evaluation ({config['run']} run, {model}, k = {config['lora']['max_rank']}): "
        f"mean ± std over seeds {params.seeds}."
    )
    write_table(table, str(Path(outputs.table[0]).with_suffix("")), caption)
    rank_figure(load_all(inputs.ranks), outputs.ranks)
    alpha_trajectory_figure(load_all(inputs.search), outputs.trajectories)
    data = {task: json.loads((Path(folder) / "provenance.json").read_text())
            for task, folder in zip(params.tasks, inputs.prepared)}
    atomic.write_json(outputs.provenance, run_provenance(config, params.command, data))
