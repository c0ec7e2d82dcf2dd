"""Snakemake job: AutoLoRA minus each baseline with intervals, per task (table and figure)."""
import json
from pathlib import Path

from autolora.reporting.differences import load_examples, run_comparisons, write_differences
from autolora.jobs import snakemake_job

with snakemake_job(snakemake):  # noqa: F821 (injected by Snakemake)
    inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    metrics = [json.loads(Path(path).read_text()) for path in inputs.metrics]
    examples = load_examples(inputs.metrics, {Path(path).parent.name: Path(path) for path in inputs.labels})
    source = f"{params.run} run, config sha256 {params.config_hash}"
    write_differences(run_comparisons(metrics, params.tasks, params.seeds, examples), Path(outputs.md).with_suffix(""),
                      outputs.figure, f"AutoLoRA minus each baseline ({params.run} run)", source)
