"""Snakemake job: read one task (hub or mirror) into resources/data/."""
from autolora.jobs import snakemake_job
from autolora.tasks import prepare_task

with snakemake_job(snakemake) as cfg:  # noqa: F821 (injected by Snakemake)
    data = cfg["data"]
    prepare_task(
        cfg["task"],
        source=data["source"],
        mirror=data["mirror"],
        out_dir=snakemake.output[0],  # noqa: F821
        max_train_examples=data["max_train_examples"],
        subset_seed=data["subset_seed"],
        verify_checksums=data["verify_checksums"],
        max_eval_examples=data["max_eval_examples"],
        pilot_holdout=data.get("pilot_holdout"),  # absent outside pilots: no default, so data tags stay
        train_subset_seed=data.get("train_subset_seed"),  # data.subset_per_seed: the run seed
    )
