"""Snakemake job: an equal-budget control's ranks (lora_budget, random_ranks) from AutoLoRA's
ranks of the same task and seed."""
import json
from pathlib import Path

from autolora.plumbing import atomic
from autolora.jobs import snakemake_job
from autolora.methods import entry_of
from autolora.stages.ranks import control_ranks

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    autolora = json.loads(Path(snakemake.input.autolora).read_text())  # noqa: F821
    method, seed = snakemake.wildcards.method, int(snakemake.wildcards.seed)  # noqa: F821
    record = control_ranks(entry_of(method).allocate, autolora, seed)  # the allocation its registry entry names
    atomic.write_json(snakemake.output[0], record)  # noqa: F821
