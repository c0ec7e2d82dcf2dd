"""Snakemake job: rank-per-layer and α-trajectory figures of one task family."""
import json
from pathlib import Path

from autolora.jobs import snakemake_job
from autolora.reporting.figures import alpha_trajectory_figure, rank_figure


def load_all(paths):
    return [json.loads(Path(path).read_text()) for path in paths]


with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    rank_figure(load_all(inputs.ranks), outputs.ranks)
    alpha_trajectory_figure(load_all(inputs.search), outputs.trajectories)
