"""Snakemake job: one paper-style table: a family's shared table (GLUE's) and its best-epoch form, a
task's table, or a task's appendix (what each is: autolora.families.base, the table registry)."""
import json
from pathlib import Path

from autolora.config import task_config
from autolora.jobs import snakemake_job
from autolora.methods import table_notes
from autolora.plumbing.provenance import config_hash
from autolora.tasks import get_spec, is_task
from autolora.reporting.tables import tuning_note
from autolora.reporting.differences import load_examples, run_comparisons
from autolora.reporting.stats import mark_significant_cells
from autolora.families import get_family
from autolora.families.base import shared_family, table_columns, table_title
from autolora.reporting.tables import family_table, metrics_table, setting_of_tasks, task_label, write_table

def title(table_name, tasks):
    """The caption's name of a table; a shared table holds own tasks of its family too where the
    config has them."""
    if shared_family(table_name) is not None and any(get_spec(task).own for task in tasks):
        family = shared_family(table_name)
        name = family.table_title or family.name
        return table_title(table_name).replace(name, f"{name}-family ({name} and own tasks)", 1)
    own = is_task(table_name) and get_spec(table_name).own
    return f"{table_title(table_name)}{' (own task)' if own else ''}"


def budget(config, task, metrics):
    """What shaped one task's numbers: model, data sizes, epochs, decoding."""
    settings = task_config(config, task)
    record = next(record for record in metrics if record["task"] == task)
    parts = [
        f"{settings['model']['name']}",
        f"{record['n_train']:,} training examples",
        # Records written before eval subsets existed have no n_eval_full: they scored the whole split.
        f"eval {record['n_eval']} of {record.get('n_eval_full', record['n_eval'])}",
        f"search {settings['search']['epochs']} ep.",
        f"retrain {settings['retrain']['epochs']} ep.",
    ]
    if get_family(settings["family"]).decodes:
        decoding = settings["generate"]
        parts.append(f"beam {decoding['num_beams']}, length penalty {decoding['length_penalty']}, "
                     f"no-repeat {decoding['no_repeat_ngram_size']}-grams, ≤ {decoding['max_new_tokens']} tokens")
    return f"{task_label(task)}: " + ", ".join(parts)


def best_epoch_records(metrics):
    """Each record with its best-epoch dev metrics in place of the final ones; methods that do
    not retrain (no per-epoch scores) are left out."""
    return [{**record, "metrics": record["best_epoch"]["metrics"]} for record in metrics if "best_epoch" in record]


BEST_EPOCH_NOTE = ("Each cell is the evaluation-split score (the dev set unless marked †) of the retraining epoch "
                   "with the best such score, what the official GLUE script reports. It is optimistic: the epoch is "
                   "chosen on the data it is scored on. The main GLUE table reports the final epoch.")


def with_significance(table, metrics, tasks, seeds, examples):
    """GLUE cells of each baseline marked where the differences table's verdict is 'differs' (a
    paired t-test over seeds against AutoLoRA with p < 0.05 after Holm's correction over all the
    table's comparisons, and no interval covering 0); the CSV gains each comparison's difference,
    intervals and p-values."""
    comparisons = run_comparisons(metrics, tasks, seeds, examples)
    return mark_significant_cells(table, comparisons) if comparisons else table


with snakemake_job(snakemake) as config:  # noqa: F821 (injected by Snakemake)
    inputs, outputs, params, table_name = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards.table  # noqa: F821
    metrics = [json.loads(Path(path).read_text()) for path in inputs.metrics]
    run_info = {
        "budget": "; ".join(budget(config, task, metrics) for task in params.tasks),
        "command": params.command,
        "config sha256": config_hash(config)[:12],
    }
    family = shared_family(table_name)
    if family is not None and table_name == family.name:
        examples = load_examples(inputs.metrics, {Path(path).parent.name: Path(path) for path in inputs.labels})
        table = with_significance(family_table(metrics, family.name, run_info, params.seeds), metrics, params.tasks,
                                  params.seeds, examples)
    elif family is not None:  # its best-epoch form
        table = family_table(best_epoch_records(metrics), family.name, run_info, params.seeds)
        table.attrs["notes"] = [BEST_EPOCH_NOTE, *table.attrs["notes"]]
    else:
        columns = table_columns(table_name, get_spec(params.tasks[0]).family)
        table = metrics_table(metrics, params.tasks[0], columns, run_info, params.seeds)
    table.attrs["notes"] = (table.attrs["notes"] + table_notes(config, table_name, {r["method"] for r in metrics})
                            + tuning_note(metrics))
    task_settings = {task: task_config(config, task) for task in params.tasks}
    caption = (
        f"{title(table_name, params.tasks)} evaluation of AutoLoRA ({config['run']} run): LoRA with k = "
        f"{setting_of_tasks(task_settings, 'lora', 'max_rank')}, "
        f"{setting_of_tasks(task_settings, 'search', 'hypergradient')} search; mean ± std over seeds {params.seeds}."
    )
    write_table(table, str(Path(outputs.md).with_suffix("")), caption)
