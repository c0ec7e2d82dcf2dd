"""Snakemake job: the run's provenance (command, config, versions, data checksums)."""
from autolora.plumbing import atomic
from autolora.data import read_provenance
from autolora.jobs import snakemake_job
from autolora.plumbing.provenance import run_provenance

with snakemake_job(snakemake) as config:  # noqa: F821 (injected by Snakemake)
    params = snakemake.params  # noqa: F821
    data = {name: read_provenance(folder) for name, folder in zip(params.datasets, snakemake.input.prepared)}  # noqa: F821
    atomic.write_json(snakemake.output[0], run_provenance(config, params.command, data))  # noqa: F821
