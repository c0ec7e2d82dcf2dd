"""Glue between a Snakemake job and the stage functions: threads, logging, the job's config."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from autolora.tasks import register_own_tasks
from autolora.training import configure_threads


@contextmanager
def snakemake_job(snakemake) -> Iterator[dict]:
    """Use exactly the job's threads, send output to its log, and yield its config view.

    The traceback of a failure goes to the log too, where Snakemake's error message points.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    configure_threads(snakemake.threads)
    _register_own_tasks(getattr(snakemake.params, "cfg", None))
    log_path = snakemake.log[0] if snakemake.log else None
    if log_path is None:
        yield getattr(snakemake.params, "cfg", None)
        return
    with open(log_path, "w", buffering=1) as log:
        sys.stdout = sys.stderr = log
        try:
            yield getattr(snakemake.params, "cfg", None)
        except BaseException:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def _register_own_tasks(config: dict | None) -> None:
    """A job's own task (its config view's ``own_task``), or a report's (the whole config's
    ``own_tasks``), made known to ``autolora.tasks.get_spec`` in this process."""
    if not config:
        return
    if "own_task" in config:
        register_own_tasks({config["task"]: config["own_task"]})
    elif "own_tasks" in config:
        register_own_tasks(config["own_tasks"])
