# Paths and per-job settings shared by every stage.
import json
import math
from pathlib import Path
from types import SimpleNamespace

from autolora.config import config_digest, data_for_seed, stage_view, task_config
from autolora.methods import (
    AUTOLORA,
    AUTOLORA_RANKS,
    AUTOLORA_SEARCH,
    BUDGET_CONTROL,
    EVALUATE,
    GRID,
    GRID_VALIDATE,
    OWN_SEARCH,
    SEARCH_MODEL,
    UNIFORM,
    entry_of,
    grid_runs,
    methods_of_task,
    pattern_where,
    runs_own_search,
    search_variant_name,
)
from autolora.trials import TRIAL_FOLDER, initial_range, tuned_methods, tuning_trials
from autolora.model import needs_conversion
from autolora.plumbing.provenance import config_hash
from autolora.families.base import (
    BEST_EPOCH_SUFFIX,
    LABELS_FILE,
    get_family,
    report_tables,
    shared_family,
)
from autolora.families.base import table_tasks as registry_table_tasks
from autolora.own_task import without_metric
from autolora.tasks import FAMILIES, family_of, tasks_of

RESULTS = f"results/{config['run']}"
TASKS = config["tasks"]
SEEDS = config["seeds"]
# The tables come from the family registry (autolora.families.base): a family's shared table for
# all its tasks (GLUE's, and its best-epoch form), or a table per task and its appendices.
FAMILY_OF_TASK = {task: family_of(task) for task in TASKS}


wildcard_constraints:
    task="|".join(TASKS),
    family="|".join(FAMILIES),
    seed=r"\d+",


def slug(text):
    return "".join(c if c.isalnum() or c in "-." else "-" for c in str(text))


def converted_model(name):
    """Where a packaged GGUF model's float32 conversion lives (made once, by convert_model)."""
    return f"resources/models/{slug(name)}"


def own_task_files(wildcards):
    """An own task's train and eval files (none for a hub dataset or a built-in task)."""
    entry = config.get("own_tasks", {}).get(wildcards.task, {})
    return [entry[split] for split in ("train", "eval") if split in entry]


def cfg(task, method=AUTOLORA, trial=None):
    """The config one job of this task and method (or of one of its tuning trials) sees:
    top-level sections with the task's overrides and what the method and trial change.
    """
    settings = task_config(config, task, method, trial)
    if needs_conversion(settings["model"]["name"]):
        settings["model"]["converted"] = converted_model(settings["model"]["name"])
    return settings


def stage_cfg(stage, method=None):
    """A job's params: the part of its config view that its stage reads (``stage_view``), so
    that a change anywhere else does not rerun it."""

    def params(wildcards):
        chosen = method or getattr(wildcards, "method", AUTOLORA)
        trial = int(wildcards.trial) if hasattr(wildcards, "trial") else None
        return stage_view(cfg(wildcards.task, chosen, trial), stage)

    return params


def runtime(stage):
    """Minutes a job of ``stage`` may run (sbatch --time on SLURM): per epoch × the task's
    epochs for the training stages, a fixed allowance for the others."""

    def minutes(wildcards):
        settings = cfg(wildcards.task)
        if stage in ("search", "retrain"):
            per_epoch = settings["resources"][f"{stage}_minutes_per_epoch"]
            return math.ceil(per_epoch * settings[stage]["epochs"])
        return math.ceil(settings["resources"][f"{stage}_minutes"])

    return minutes


def gpus(wildcards):
    """GPUs of a training or evaluation job (the SLURM plugin's ``gpu`` resource)."""
    return cfg(wildcards.task)["resources"]["gpus"]


def gpu_job(stage):
    """Resources of a job that may run on a GPU (search, retraining, evaluation)."""
    return dict(mem_mb=8000, runtime=runtime(stage), gpu=gpus)


# Conda env of the jobs that may use GPUs (paths relative to workflow/rules): the CUDA build of
# PyTorch when any task asks for GPUs. Static rather than per job so `--containerize` works.
GPU_ENV = "../envs/autolora-{}.yaml".format(
    "cuda" if any(cfg(task)["resources"]["gpus"] for task in TASKS) else "cpu"
)


def model_input(wildcards):
    """The converted model a job loads, where its model needs one."""
    name = cfg(wildcards.task)["model"]["name"]
    return [converted_model(name)] if needs_conversion(name) else []


def data_tag(task, seed):
    """Prepared data is shared across runs, so its folder names what shaped it: the sizes to
    read, and a hash of the whole data section (the mirror too) and of an own task's definition.
    With ``data.subset_per_seed`` each seed has its own subset, and so its own folder.
    """
    settings = cfg(task)
    data = data_for_seed(settings["data"], seed)
    own = settings.get("own_task") and without_metric(settings["own_task"])
    parts = ["own" if own else data["source"]]
    for key, short in (("max_train_examples", "n"), ("max_eval_examples", "e")):
        if data[key] is not None:
            parts.append(f"{short}{data[key]}")
    if len(parts) == 1:
        parts.append("full")
    else:
        parts.append(f"s{data.get('train_subset_seed', data['subset_seed'])}")
    return "-".join([*parts, config_digest({**data, "own_task": own} if own else data)])


def prepared_path(task, seed):
    return f"resources/data/{task}/{data_tag(task, seed)}"


def prepared_dir(wildcards):
    return prepared_path(wildcards.task, wildcards.seed)


def tokenized_dir(wildcards):
    model = cfg(wildcards.task)["model"]
    return (
        f"resources/tokenized/{slug(model['name'])}-L{model['max_length']}/"
        f"{wildcards.task}/{data_tag(wildcards.task, wildcards.seed)}"
    )


def data_seeds(task):
    """One seed per distinct training subset of ``task``: every seed, or the first."""
    return SEEDS if cfg(task)["data"].get("subset_per_seed") else SEEDS[:1]


def prepare_cfg(wildcards):
    """A prepare job's params: the task's data section as the seed whose folder it makes reads it."""
    view = stage_view(cfg(wildcards.task), "prepare")
    seeds = [seed for seed in SEEDS if data_tag(wildcards.task, seed) == wildcards.tag]
    if not seeds:
        raise ValueError(
            f"no seed of this run prepares {wildcards.task}'s data as {wildcards.tag}"
        )
    view["data"] = data_for_seed(view["data"], seeds[0])
    return view


def job_dir(family="{family}", task="{task}", seed="{seed}"):
    return f"{RESULTS}/{family}/{task}/seed{seed}"


def method_dir(family="{family}", task="{task}", seed="{seed}", method="{method}"):
    """Every method but AutoLoRA writes to a folder of its own inside the job's folder."""
    return f"{job_dir(family, task, seed)}/{method}"


def method_output(task, seed, method, name):
    """A method's file; AutoLoRA's stay in the job folder, where committed results have them."""
    if method == AUTOLORA:
        return f"{job_dir(family_of(task), task, seed)}/{name}"
    return f"{method_dir(family_of(task), task, seed, method)}/{name}"


def trial_dir(
    family="{family}", task="{task}", seed="{seed}", method="{method}", trial="{trial}"
):
    """A tuning trial's folder, beside the method folders of the tuning seed."""
    return method_dir(
        family, task, seed, TRIAL_FOLDER.format(method=method, trial=trial)
    )


def method_log(stage, method="{method}"):
    """Log and benchmark paths of a method's job: AutoLoRA's without a method folder."""
    folder = "{family}" if method == AUTOLORA else f"{{family}}/{method}"
    return f"{stage}/{folder}/{{task}}-seed{{seed}}"


GRID_RUNS = grid_runs(config["grid_ranks"])
# Which methods each rule serves (its wildcard constraint) comes from the method registry in
# autolora.methods, so that a new entry needs no rule edit. AutoLoRA's own jobs write to the
# job folder through rules of their own (`use rule`), so no pattern includes it.
OWN_SEARCH_METHODS = pattern_where(lambda method: method.ranks == OWN_SEARCH)
SEARCHED_RANK_METHODS = pattern_where(
    lambda method: method.ranks in (OWN_SEARCH, AUTOLORA_SEARCH)
)
UNIFORM_RANK_METHODS = pattern_where(lambda method: method.ranks == UNIFORM)
CONTROL_METHODS = pattern_where(lambda method: method.ranks == BUDGET_CONTROL)
TRAINED_METHODS = pattern_where(lambda method: method.trains is not None)
# What a tuning trial may tune: every trained method with settings of its own (AutoLoRA's
# retraining included; not the ablations and search variants, which take AutoLoRA's).
TUNABLE_METHODS = pattern_where(
    lambda method: method.trains is not None and method.tuned_as is None, without=()
)
EVALUATED_METHODS = pattern_where(
    lambda method: method.trains is not None and method.scored_by == EVALUATE
)
GRID_VALIDATED_METHODS = pattern_where(lambda method: method.scored_by == GRID_VALIDATE)
SEARCH_MODEL_METHODS = pattern_where(lambda method: method.scored_by == SEARCH_MODEL)


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


def method_jobs(name, tasks=TASKS):
    """One file per task, method that runs on it, and seed: the tables' inputs."""
    return [
        method_output(task, seed, method, name)
        for task in tasks
        for method in methods_of_task(config, task)
        for seed in SEEDS
    ]


def label_files(tasks):
    """Each task's eval_labels.txt, for tasks whose family can rescore per example."""
    return [
        f"{RESULTS}/{family_of(task)}/{task}/{LABELS_FILE}"
        for task in tasks
        if get_family(family_of(task)).eval_labels is not None
    ]


def searched_methods(task):
    """AutoLoRA and the search variants of the config that run on ``task``: the rank
    diagnostics' rows."""
    return [
        method
        for method in methods_of_task(config, task)
        if method == AUTOLORA or search_variant_name(method) is not None
    ]


def search_records():
    """{task, method, path} of every search the rank diagnostics read."""
    return [
        dict(
            task=task,
            method=method,
            path=method_output(task, seed, method, "search.json"),
        )
        for task in TASKS
        for method in searched_methods(task)
        for seed in SEEDS
    ]


def control_records():
    """{task, method, path} of every equal-budget control's ranks, for the rank diagnostics."""
    return [
        dict(
            task=task,
            method=method,
            path=method_output(task, seed, method, "ranks.json"),
        )
        for task in TASKS
        for method in methods_of_task(config, task)
        if entry_of(method).ranks == BUDGET_CONTROL
        for seed in SEEDS
    ]


def cost_records():
    """{task, method, stage, seed, path} of every benchmark the cost table sums; the grid
    as its candidate runs and its final run (autolora.reporting.cost adds them up).
    """
    records = []
    for task in TASKS:
        methods = methods_of_task(config, task)
        runs = [
            run
            for method in methods
            for run in ([*GRID_RUNS, GRID] if method == GRID else [method])
        ]
        for method in runs:
            for stage in entry_of(method).stages:
                for seed in SEEDS:
                    path = method_log(f"{RESULTS}/benchmarks/{stage}", method)
                    path = path.format(family=family_of(task), task=task, seed=seed)
                    records.append(
                        dict(
                            task=task,
                            method=method,
                            stage=stage,
                            seed=seed,
                            path=f"{path}.tsv",
                        )
                    )
    return records


def families():
    return [family for family in FAMILIES if tasks_of(family, TASKS)]


def tables():
    """The tables this run makes: each family's shared table, with its best-epoch form where one
    of its tasks scores the dev set after every epoch, and each other task's own tables.
    """
    names = []
    for table in report_tables(FAMILY_OF_TASK):
        names.append(table)
        best_epoch = f"{table}{BEST_EPOCH_SUFFIX}"
        if shared_family(table) is not None and table_tasks(best_epoch):
            names.append(best_epoch)
    return names


def differences_outputs():
    """The differences table and figure, where some task runs AutoLoRA beside a baseline."""
    if not any(
        AUTOLORA in methods_of_task(config, task)
        and len(methods_of_task(config, task)) > 1
        for task in TASKS
    ):
        return []
    return [
        *expand(f"{RESULTS}/tables/differences.{{ext}}", ext=["md", "tex", "csv"]),
        f"{RESULTS}/figures/differences.png",
    ]


def marks_differences(table):
    """Whether a table marks the baselines that differ from AutoLoRA: a family's shared table."""
    family = shared_family(table)
    return family is not None and table == family.name


def table_tasks(table):
    """The tasks of a table; of a best-epoch table, those that score the dev set every epoch."""
    tasks = registry_table_tasks(table, FAMILY_OF_TASK)
    if table.endswith(BEST_EPOCH_SUFFIX):
        return [task for task in tasks if cfg(task)["retrain"]["eval_every_epoch"]]
    return tasks


def ablation_search(wildcards):
    """A searched method's own search; the rank-rule ablations read AutoLoRA's."""
    if runs_own_search(wildcards.method):
        return f"{method_dir(**wildcards)}/search.json"
    return f"{job_dir(wildcards.family, wildcards.task, wildcards.seed)}/search.json"


def method_ranks(wildcards):
    """What a method (or one of its tuning trials) trains with: its own ranks, AutoLoRA's
    (AdaLoRA's budget), or none."""
    method = wildcards.method
    ranks = entry_of(method).ranks
    if ranks is None:
        return []
    if ranks == AUTOLORA_RANKS:
        method = AUTOLORA
    return method_output(wildcards.task, wildcards.seed, method, "ranks.json")


def tuning_dir(family="{family}", task="{task}"):
    return f"{RESULTS}/{family}/{task}/tuning"


def tuned_choice(wildcards):
    """A tuned method's chosen settings (tuning/<method>.json); none where it is not tuned. An
    ablation takes AutoLoRA's (``Method.tuned_as``); the grid's
    final run, where its candidates are tuned one by one, reads every candidate's and takes the
    settings of the one it chose (autolora.stages.tuning.choice_for_ranks)."""
    method = getattr(wildcards, "method", AUTOLORA)
    method = entry_of(method).tuned_as or method
    tuned = tuned_methods(config, GRID_RUNS)
    if method == GRID and GRID not in tuned:
        runs = [run for run in GRID_RUNS if run in tuned]
    else:
        runs = [method] if method in tuned else []
    return [
        f"{tuning_dir(wildcards.family, wildcards.task)}/{run}.json" for run in runs
    ]


def tuning_round_file(wildcards, round_index):
    """A tuning round's record; raises Snakemake's 'incomplete checkpoint' until it exists."""
    job = checkpoints.tuning_round.get(
        family=wildcards.family,
        task=wildcards.task,
        method=wildcards.method,
        round=str(round_index),
    )
    return job.output[0]


def tried_range(wildcards):
    """The trials of a tuning round, as [first, last] index: the first round's, or those its
    previous round asked for."""
    round_index = int(wildcards.round)
    if round_index == 0:
        return list(initial_range(config, wildcards.method))
    previous = tuning_round_file(wildcards, round_index - 1)
    following = json.loads(Path(previous).read_text())["next"]
    if following is None:
        raise ValueError(f"{previous} ends the tuning; there is no round {round_index}")
    return following


def round_trial_outputs(wildcards, name):
    """One file of each trial of a tuning round, on the tuning seed."""
    first, last = tried_range(wildcards)
    return [
        f"{trial_dir(wildcards.family, wildcards.task, config['tuning']['seed'], wildcards.method, index)}/{name}"
        for index in range(first, last + 1)
    ]


def last_tuning_round(wildcards):
    """The round that ended a method's tuning (its choice interior, or the ladder's limit)."""
    round_index = 0
    while True:
        path = tuning_round_file(wildcards, round_index)
        if json.loads(Path(path).read_text())["next"] is None:
            return path
        round_index += 1


def table_output(name, ext, caption):
    """A table file, shown by `snakemake --report` under "tables"."""
    return report(
        f"{RESULTS}/tables/{name}.{ext}",
        caption=f"../report/{caption}.rst",
        category="tables",
        subcategory=name,
    )
