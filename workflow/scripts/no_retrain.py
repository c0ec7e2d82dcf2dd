"""Snakemake job: the no_retrain ablation (the search model with only its kept components)."""
from autolora.stages.evaluate import run_no_retrain
from autolora.jobs import snakemake_job

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    run_no_retrain(inputs.tokenized, inputs.prepared, inputs.search, inputs.state, cfg,
                   int(snakemake.wildcards.seed), outputs.metrics, outputs.predictions)  # noqa: F821
