"""Snakemake job: score one grid run on the search-validation split."""
from autolora.stages.grid import run_grid_validation
from autolora.jobs import snakemake_job

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    run_grid_validation(snakemake.input.tokenized, snakemake.input.adapter, cfg,  # noqa: F821
                        int(snakemake.wildcards.seed), snakemake.output[0])  # noqa: F821
