"""Snakemake job: bilevel search of α for one task and seed (and the search model's state,
where the no_retrain ablation needs it)."""
from autolora.jobs import snakemake_job
from autolora.stages.search import run_search

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    outputs = snakemake.output  # noqa: F821
    run_search(snakemake.input.tokenized, cfg, cfg["task"], int(snakemake.wildcards.seed),  # noqa: F821
               outputs.record, outputs.get("state"))
