"""Snakemake job: ranks from the search record."""
import json

from autolora.plumbing import atomic
from autolora.jobs import snakemake_job
from autolora.stages.ranks import rank_record

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    with open(snakemake.input.search) as handle:  # noqa: F821
        search = json.load(handle)
    atomic.write_json(snakemake.output[0], rank_record(search, cfg["ranks"]["threshold"], cfg["ranks"]["form"]))  # noqa: F821
