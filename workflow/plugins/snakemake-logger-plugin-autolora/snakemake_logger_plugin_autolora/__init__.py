"""Snakemake's own console output plus a time-left estimate after every finished job.

Select it with ``--logger autolora`` (the repository's default profile does). Every record is
written exactly as Snakemake's default console handler writes it; each progress line
("12 of 254 steps (5%) done") is followed by ``ETA <duration> (about <clock time>)``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from logging import LogRecord

from snakemake.logging import ColorizingTextHandler, DefaultFilter
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from snakemake_logger_plugin_autolora.eta import EtaEstimator, format_duration


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.eta = EtaEstimator()
        stream = sys.stdout if self.common_settings.stdout else sys.stderr
        # Snakemake's default console handler does the writing; this one only adds the ETA.
        self.console = ColorizingTextHandler(nocolor=self.common_settings.nocolor, stream=stream)
        settings = self.common_settings
        # Filtered for printing only: the estimate needs every job's start, --quiet or not.
        self.console.addFilter(
            DefaultFilter(settings.quiet, settings.debug_dag, settings.verbose,
                          settings.dryrun, settings.printshellcmds)
        )

    def emit(self, record: LogRecord) -> None:
        self.console.setFormatter(self.formatter)  # Snakemake sets ours after construction
        self.console.handle(record)  # applies the filter, then emits
        event = getattr(record, "event", None)
        if event == LogEvent.RUN_INFO:
            self.eta.plan(getattr(record, "stats", {}))
        elif event == LogEvent.JOB_INFO:
            wildcards = getattr(record, "wildcards", None) or {}
            self.eta.started(record.jobid, record.rule_name, wildcards.get("task"))
        elif event == LogEvent.JOB_FINISHED:
            self.eta.finished(record.job_id)
        elif event == LogEvent.PROGRESS and record.done < record.total:
            if self.console.filter(record):
                self._print_eta()

    def _print_eta(self) -> None:
        estimate = self.eta.estimate()
        if estimate is None:
            return
        at = datetime.now() + timedelta(seconds=estimate.seconds)
        note = " (rough: many jobs left are of stages not timed yet)" if estimate.rough else ""
        self.console.stream.write(
            f"ETA {format_duration(estimate.seconds)} (about {at:%H:%M}){note}\n"
        )
        self.console.flush()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # Snakemake's default filter, on the console only (see __post_init__)

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's default formatter applies

    @property
    def needs_rulegraph(self) -> bool:
        return False
