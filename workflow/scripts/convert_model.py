"""Snakemake job: convert a packaged GGUF model to float32 safetensors, once for all jobs."""
from autolora.jobs import snakemake_job
from autolora.model import cache_causal_lm

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    cache_causal_lm(snakemake.params.name, snakemake.output[0])  # noqa: F821
