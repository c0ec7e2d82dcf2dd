"""Snakemake job: a method's retraining settings, those of its best tuning trial (last round)."""
from autolora.jobs import snakemake_job
from autolora.stages.tuning import run_tuning_choice

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    run_tuning_choice(snakemake.input[0], snakemake.output[0])  # noqa: F821
