"""Snakemake job: a method's retraining settings, those of its best tuning trial."""
from autolora.jobs import snakemake_job
from autolora.tuning import run_tuning_choice

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs = snakemake.input  # noqa: F821
    run_tuning_choice(snakemake.wildcards.method, snakemake.params.trials, list(inputs.validation),  # noqa: F821
                      list(inputs.logs), snakemake.output[0])  # noqa: F821
