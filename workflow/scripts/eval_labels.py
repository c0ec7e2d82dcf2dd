"""Snakemake job: a task's evaluation labels, one per line in predictions.txt's order."""
from autolora.families import get_family
from autolora.jobs import snakemake_job
from autolora.plumbing import atomic

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    labels = get_family(snakemake.wildcards.family).eval_labels(snakemake.input.tokenized)  # noqa: F821
    atomic.write_text(snakemake.output[0], "".join(f"{label:.9g}\n" for label in labels))  # noqa: F821
