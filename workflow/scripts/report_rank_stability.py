"""Snakemake job: the rank diagnostics table (autolora.diagnostics) of every task's searches."""
import json
from pathlib import Path

from autolora.jobs import snakemake_job
from autolora.diagnostics import rank_stability_table
from autolora.report import write_table

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    searches = [json.loads(Path(path).read_text()) for path in snakemake.input.searches]  # noqa: F821
    table = rank_stability_table(searches, snakemake.params.tasks)  # noqa: F821
    caption = (f"Rank diagnostics of AutoLoRA's search ({snakemake.params.run} run): does the learned allocation "  # noqa: F821
               f"leave the uniform start, and do seeds agree? Seeds {snakemake.params.seeds}.")  # noqa: F821
    write_table(table, str(Path(snakemake.output.md).with_suffix("")), caption)  # noqa: F821
