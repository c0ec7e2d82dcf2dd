"""Snakemake job: one round of a method's tuning, its best trial and whether to try more."""
from autolora.jobs import snakemake_job
from autolora.stages.tuning import run_tuning_round

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards  # noqa: F821
    run_tuning_round(wildcards.method, params.trials, params.tried, int(wildcards.round), list(inputs.validation),
                     list(inputs.logs), snakemake.output[0])  # noqa: F821
