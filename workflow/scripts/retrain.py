"""Snakemake job: train one method (AutoLoRA's ranks, a baseline, an ablation) and save it."""
import json
from pathlib import Path

from autolora.jobs import snakemake_job
from autolora.stages.retrain import run_retrain
from autolora.stages.tuning import choice_for_ranks

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    ranks_path = snakemake.input.get("ranks")  # noqa: F821 (none for full fine-tuning)
    ranks = json.loads(Path(ranks_path).read_text()) if ranks_path else None
    # None where the method is not tuned; the grid's final run: every candidate's, its own applies.
    paths = snakemake.input.get("tuning") or []  # noqa: F821
    records = [json.loads(Path(path).read_text()) for path in ([paths] if isinstance(paths, str) else paths)]
    tuning = choice_for_ranks(records, ranks)
    run_retrain(
        snakemake.input.tokenized,  # noqa: F821
        ranks,
        cfg,
        cfg["task"],
        int(snakemake.wildcards.seed),  # noqa: F821
        snakemake.output.adapter,  # noqa: F821
        snakemake.output.log,  # noqa: F821
        tuning,
    )
