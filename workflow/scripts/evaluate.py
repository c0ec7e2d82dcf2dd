"""Snakemake job: score the reloaded adapter on the evaluation split."""
from autolora.stages.evaluate import run_evaluate
from autolora.jobs import snakemake_job

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    run_evaluate(
        inputs.tokenized, inputs.prepared, inputs.adapter, inputs.retrain_log, cfg,
        cfg["task"], int(snakemake.wildcards.seed), outputs.metrics, outputs.predictions,  # noqa: F821
    )
