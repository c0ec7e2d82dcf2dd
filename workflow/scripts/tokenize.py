"""Snakemake job: tokenise one prepared task for one model."""
from autolora.jobs import snakemake_job
from autolora.tokenize import tokenize_prepared

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    model = cfg["model"]
    tokenize_prepared(snakemake.input.prepared, model["name"], model["max_length"], snakemake.output[0])  # noqa: F821
