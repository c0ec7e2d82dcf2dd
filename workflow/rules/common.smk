# Paths and per-job settings shared by every stage.
from autolora.config import task_config
from autolora.model import needs_conversion
from autolora.tasks import FAMILIES, family_of, tasks_of

RESULTS = f"results/{config['run']}"
TASKS = config["tasks"]
SEEDS = config["seeds"]
# Single-task tables of the data-to-text and NER families (GLUE has one table for all tasks).
TABLES = {"glue": ["glue"], "nlg": ["e2e", "webnlg"], "ner": ["bionlp", "bionlp_types"]}


wildcard_constraints:
    task="|".join(TASKS),
    family="|".join(FAMILIES),
    seed=r"\d+",


def slug(text):
    return "".join(c if c.isalnum() or c in "-." else "-" for c in str(text))


def converted_model(name):
    """Where a packaged GGUF model's float32 conversion lives (made once, by convert_model)."""
    return f"resources/models/{slug(name)}"


def cfg(task):
    """The config one job of this task sees (top-level sections with the task's overrides)."""
    settings = task_config(config, task)
    if needs_conversion(settings["model"]["name"]):
        settings["model"]["converted"] = converted_model(settings["model"]["name"])
    return settings


def model_input(wildcards):
    """The converted model a job loads, where its model needs one."""
    name = cfg(wildcards.task)["model"]["name"]
    return [converted_model(name)] if needs_conversion(name) else []


def data_tag(task):
    """Prepared data is shared across runs, so its folder names what shaped it."""
    data = cfg(task)["data"]
    parts = [data["source"]]
    for key, short in (("max_train_examples", "n"), ("max_eval_examples", "e")):
        if data[key] is not None:
            parts.append(f"{short}{data[key]}")
    if len(parts) == 1:
        parts.append("full")
    else:
        parts.append(f"s{data['subset_seed']}")
    return "-".join(parts)


def prepared_path(task):
    return f"resources/data/{task}/{data_tag(task)}"


def prepared_dir(wildcards):
    return prepared_path(wildcards.task)


def tokenized_dir(wildcards):
    model = cfg(wildcards.task)["model"]
    return (
        f"resources/tokenized/{slug(model['name'])}-L{model['max_length']}/"
        f"{wildcards.task}/{data_tag(wildcards.task)}"
    )


def job_dir(family="{family}", task="{task}", seed="{seed}"):
    return f"{RESULTS}/{family}/{task}/seed{seed}"


def run_command():
    """How this run was asked for, for the provenance record next to its tables."""
    files = " ".join(
        f"--configfile {os.path.relpath(path)}" for path in workflow.configfiles
    )
    return f"snakemake {files}".strip()


def per_job(name, tasks=TASKS):
    """One file per task and seed of ``tasks``, for the report stage."""
    return [
        f"{job_dir(family_of(task), task, seed)}/{name}"
        for task in tasks
        for seed in SEEDS
    ]


def families():
    return [family for family in FAMILIES if tasks_of(family, TASKS)]


def tables():
    """The tables this run makes: GLUE's if it has GLUE tasks, one per other task."""
    names = ["glue"] if tasks_of("glue", TASKS) else []
    return names + [
        table
        for family in ("nlg", "ner")
        for table in TABLES[family]
        if table.split("_")[0] in TASKS
    ]


def table_tasks(table):
    return tasks_of("glue", TASKS) if table == "glue" else [table.split("_")[0]]
