"""Snakemake job: the rank diagnostics table (autolora.reporting.diagnostics) of every task's searches
(AutoLoRA's and those of the config's search variants) and of its equal-budget controls' ranks."""
import json
from collections import defaultdict
from pathlib import Path

from autolora.reporting.diagnostics import rank_stability_table
from autolora.jobs import snakemake_job
from autolora.reporting.tables import write_table

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    params = snakemake.params  # noqa: F821
    searches, controls = defaultdict(list), defaultdict(list)
    for records, by_cell in ((params.records, searches), (params.controls, controls)):
        for record in records:
            by_cell[record["task"], record["method"]].append(json.loads(Path(record["path"]).read_text()))
    table = rank_stability_table(searches, params.variants, controls)
    caption = (f"Rank diagnostics of AutoLoRA's search ({params.run} run): does the learned allocation "
               f"leave the uniform start, and do seeds agree? Seeds {params.seeds}.")
    write_table(table, str(Path(snakemake.output.md).with_suffix("")), caption)  # noqa: F821
