"""Snakemake job: tokenise one prepared task for one model."""
from autolora.jobs import snakemake_job
from autolora.model import model_source
from autolora.stages.tokenize import tokenize_prepared

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    model = cfg["model"]
    tokenize_prepared(snakemake.input.prepared, model_source(model), model["max_length"], cfg["family"], snakemake.output[0])  # noqa: F821
