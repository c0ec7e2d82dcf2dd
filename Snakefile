# AutoLoRA replication pipeline: data → search → ranks → retrain → evaluate → report.
# Without --configfile it runs the paper protocol (config/config.yaml); the README's main job
# passes config/cpu.yaml. Every config is validated (workflow/schemas) before any job runs.
import os

import yaml
from snakemake.utils import min_version

from autolora.config import validate_config

# Logger plugins (the console ETA) and the `localrule:` keyword need Snakemake 9.
min_version("9.0")

os.environ.setdefault(
    "OMP_WAIT_POLICY", "PASSIVE"
)  # idle OpenMP threads must not spin on shared cores
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Jobs import autolora from this checkout, also inside --use-conda environments.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
    )
)

if not config:
    # Loaded here rather than with `configfile:` so that a user's --configfile replaces the
    # paper config instead of being deep-merged into it (task overrides would leak across).
    with open(os.path.join(workflow.basedir, "config", "config.yaml")) as handle:
        config.update(yaml.safe_load(handle))
validate_config(
    config
)  # relative paths (data.mirror) are relative to the working directory


report: "workflow/report/workflow.rst"


onsuccess:
    # Finished jobs keep their final checkpoint until here, so that a job whose outputs an
    # interrupt discarded reruns in seconds (autolora.plumbing.checkpoint.Checkpointer.complete).
    # Imported here, so that torch loads only when a run ends.
    from autolora.plumbing.checkpoint import remove_finished_checkpoints

    remove_finished_checkpoints(RESULTS)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/ranks.smk"
include: "workflow/rules/retrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        expand(
            f"{RESULTS}/tables/{{table}}.{{ext}}",
            table=tables(),
            ext=["md", "tex", "csv"],
        ),
        expand(
            f"{RESULTS}/figures/{{family}}_{{figure}}.png",
            family=families(),
            figure=["ranks", "alpha_trajectories"],
        ),
        f"{RESULTS}/provenance.json",
        expand(f"{RESULTS}/tables/cost.{{ext}}", ext=["md", "tex", "csv"]),
        expand(f"{RESULTS}/tables/rank_stability.{{ext}}", ext=["md", "tex", "csv"]),
        f"{RESULTS}/figures/quality_cost.png",
        differences_outputs(),
