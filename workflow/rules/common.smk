# Paths and per-job settings shared by every stage.
from autolora.config import task_config

RESULTS = f"results/{config['run']}"
TASKS = config["tasks"]
SEEDS = config["seeds"]


wildcard_constraints:
    task="|".join(TASKS),
    seed=r"\d+",


def cfg(task):
    """The config one job of this task sees (top-level sections with the task's overrides)."""
    return task_config(config, task)


def slug(text):
    return "".join(c if c.isalnum() or c in "-." else "-" for c in str(text))


def data_tag(task):
    """Prepared data is shared across runs, so its folder names what shaped it."""
    data = cfg(task)["data"]
    subset = (
        "full"
        if data["max_train_examples"] is None
        else f"n{data['max_train_examples']}-s{data['subset_seed']}"
    )
    return f"{data['source']}-{subset}"


def prepared_path(task):
    return f"resources/data/glue/{task}/{data_tag(task)}"


def prepared_dir(wildcards):
    return prepared_path(wildcards.task)


def tokenized_dir(wildcards):
    model = cfg(wildcards.task)["model"]
    return (
        f"resources/tokenized/{slug(model['name'])}-L{model['max_length']}/"
        f"glue/{wildcards.task}/{data_tag(wildcards.task)}"
    )


def run_command():
    """How this run was asked for, for the provenance record next to its tables."""
    files = " ".join(
        f"--configfile {os.path.relpath(path)}" for path in workflow.configfiles
    )
    return f"snakemake {files}".strip()


def per_job(name):
    """One file per task and seed, for the report stage."""
    return expand(
        f"{RESULTS}/glue/{{task}}/seed{{seed}}/{name}", task=TASKS, seed=SEEDS
    )
