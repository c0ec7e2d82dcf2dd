"""Snakemake job: the cost table (every method's benchmarked stages, trainable parameters,
AutoLoRA's cost over the grid's) and the quality-against-cost figure."""
import json
from pathlib import Path

from autolora.reporting import cost
from autolora.jobs import snakemake_job
from autolora.methods import GRID
from autolora.reporting.tables import write_table

with snakemake_job(snakemake) as config:  # noqa: F821 (injected by Snakemake)
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    metrics = [json.loads(Path(path).read_text()) for path in inputs.metrics]
    # The grid's metrics belong with its cost, which autolora.reporting.cost sums under its own name.
    metrics = [{**record, "method": cost.GRID_METHOD} if record["method"] == GRID else record for record in metrics]
    table = cost.cost_table(params.records, metrics, params.seeds, params.grid_runs)
    caption = (f"Cost of every method ({config['run']} run): wall and CPU time per stage, peak memory and "
               "trainable parameters; mean ± std over seeds.")
    write_table(table, str(Path(outputs.md).with_suffix("")), caption)
    cost.quality_cost_figure(params.records, metrics, params.seeds, outputs.figure, params.grid_runs)
