"""Snakemake job: the grid's ranks, those of the candidate with the best validation score."""
from autolora.stages.grid import run_grid_choice
from autolora.jobs import snakemake_job

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs = snakemake.input  # noqa: F821
    run_grid_choice(list(inputs.validation), list(inputs.ranks), snakemake.output[0])  # noqa: F821
