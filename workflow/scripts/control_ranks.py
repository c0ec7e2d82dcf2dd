"""Snakemake job: an equal-budget control's ranks (lora_budget, random_ranks) from AutoLoRA's
ranks of the same task and seed."""
import json
from pathlib import Path

from autolora import atomic
from autolora.jobs import snakemake_job
from autolora.methods import LORA_BUDGET
from autolora.ranks import random_budget_ranks, uniform_budget_ranks

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    autolora = json.loads(Path(snakemake.input.autolora).read_text())  # noqa: F821
    method, seed = snakemake.wildcards.method, int(snakemake.wildcards.seed)  # noqa: F821
    record = uniform_budget_ranks(autolora) if method == LORA_BUDGET else random_budget_ranks(autolora, seed)
    atomic.write_json(snakemake.output[0], record)  # noqa: F821
