"""Snakemake job: bilevel search of α for one task and seed."""
from autolora.jobs import snakemake_job
from autolora.search import run_search

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    run_search(snakemake.input.tokenized, cfg, cfg["task"], int(snakemake.wildcards.seed), snakemake.output[0])  # noqa: F821
