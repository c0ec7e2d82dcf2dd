"""Every job a config plans, as a fresh run would (forced): rule, outputs and params, one sorted
JSON line per job. A refactor that must leave every shipped config's jobs alone is checked by
dumping before and after and comparing:

    python benchmarks/job_dump.py config/test.yaml > after.jsonl          # in this checkout
    (cd OTHER_CHECKOUT && PYTHONPATH=$PWD python $OLDPWD/benchmarks/job_dump.py config/test.yaml) > before.jsonl
    diff before.jsonl after.jsonl

Several config files layer as --configfile does. It builds the DAG through Snakemake's API and
two of its internal steps (``_prepare_dag``, ``_build_dag``, as ``--printdag`` does), so a
Snakemake upgrade may need it adjusted; jobs behind a checkpoint (the tuning rounds after the
first) appear only once the checkpoint has run.
"""

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.enums import RerunTrigger
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings


def dag_of(snakefile: Path, configs: list[Path], forceall: bool = True):
    """The DAG of every job the configs plan in the working directory: forced, as a fresh run
    plans it; not forced, as a finished run's outputs stand (by their times alone, not the code or
    params that made them), with the jobs behind every checkpoint that has run."""
    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1),
                                    config_settings=ConfigSettings(configfiles=configs),
                                    snakefile=snakefile, workdir=Path.cwd())
        workflow = workflow_api._workflow
        settings = DAGSettings(forceall=forceall, rerun_triggers=RerunTrigger.all() if forceall else {RerunTrigger.MTIME})
        workflow.dag_settings = workflow_api.dag(dag_settings=settings).dag_settings
        workflow._prepare_dag(forceall=forceall, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        return workflow.dag


def planned_jobs(snakefile: Path, configs: list[Path]) -> list[str]:
    return sorted(json.dumps({"rule": job.rule.name, "output": sorted(map(str, job.output)),
                              "params": dict(job.params.items())}, sort_keys=True, default=str)
                  for job in dag_of(snakefile, configs).jobs)


if __name__ == "__main__":
    print("\n".join(planned_jobs(Path("Snakefile").resolve(), [Path(path).resolve() for path in sys.argv[1:]])))
