"""Snakemake job: PEFT LoRA retraining with the searched ranks."""
import json

from autolora.jobs import snakemake_job
from autolora.retrain import run_retrain

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    with open(snakemake.input.ranks) as handle:  # noqa: F821
        ranks = json.load(handle)
    run_retrain(
        snakemake.input.tokenized,  # noqa: F821
        ranks,
        cfg,
        cfg["task"],
        int(snakemake.wildcards.seed),  # noqa: F821
        snakemake.output.adapter,  # noqa: F821
        snakemake.output.log,  # noqa: F821
    )
