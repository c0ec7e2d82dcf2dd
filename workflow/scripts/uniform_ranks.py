"""Snakemake job: one rank on every target module (lora_r{r}, grid_r{r}), from the model's
module names alone."""
from autolora.plumbing import atomic
from autolora.core.injection import target_matrix_names
from autolora.jobs import snakemake_job
from autolora.methods import uniform_rank
from autolora.model import load_task_model
from autolora.stages.ranks import uniform_rank_record

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    modules = target_matrix_names(load_task_model(cfg), tuple(cfg["lora"]["targets"]))
    record = uniform_rank_record(modules, uniform_rank(cfg["method"]), cfg["task"], int(snakemake.wildcards.seed))  # noqa: F821
    atomic.write_json(snakemake.output[0], record)  # noqa: F821
