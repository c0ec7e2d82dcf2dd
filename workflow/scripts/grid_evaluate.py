"""Snakemake job: evaluate the grid run with the best validation score."""
from autolora.grid import run_grid_evaluate
from autolora.jobs import snakemake_job

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    run_grid_evaluate(list(inputs.validation), list(inputs.adapters), list(inputs.retrain_logs), inputs.tokenized,
                      inputs.prepared, cfg, int(snakemake.wildcards.seed), outputs.metrics, outputs.predictions)  # noqa: F821
