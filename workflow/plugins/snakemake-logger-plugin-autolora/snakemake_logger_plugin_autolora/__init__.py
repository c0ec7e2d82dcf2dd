"""Snakemake's own console output plus one status line for the whole run.

Select it with ``--logger autolora`` (the repository's default profile does). Every record is
written exactly as Snakemake's default console handler writes it. The status line says how many
jobs are done of all, which run now and the time left (``eta.status_line``). On a terminal it
stays at the bottom, redrawn in place whenever a job starts or ends; elsewhere (a log file, CI)
it is printed as a plain line after each progress line ("12 of 254 steps (5%) done").
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from logging import LogRecord

from snakemake.logging import ColorizingTextHandler, DefaultFilter
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from snakemake_logger_plugin_autolora.eta import EtaEstimator, job_label, status_line

CLEAR_LINE = "\r\x1b[K"  # back to the line's start and erase it


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.eta = EtaEstimator()
        self.running: dict[int, str] = {}  # jobid → label
        self.done, self.total = 0, 0
        self.status_shown = False  # a status line is on the terminal's last line
        stream = sys.stdout if self.common_settings.stdout else sys.stderr
        self.in_place = stream.isatty()
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
        if self.status_shown:  # Snakemake's line goes where the status was; the status follows it
            self.console.stream.write(CLEAR_LINE)
            self.status_shown = False
        self.console.handle(record)  # applies the filter, then emits
        event = getattr(record, "event", None)
        if event == LogEvent.RUN_INFO:
            stats = getattr(record, "stats", {})
            self.eta.plan(stats)
            self.total = stats.get("total", self.total)
        elif event == LogEvent.JOB_INFO:
            wildcards = getattr(record, "wildcards", None) or {}
            self.eta.started(record.jobid, record.rule_name, wildcards.get("task"))
            self.running[record.jobid] = job_label(record.rule_name, wildcards)
        elif event == LogEvent.JOB_FINISHED:
            self.eta.finished(record.job_id)
            self.running.pop(record.job_id, None)
        elif event == LogEvent.PROGRESS:
            self.done, self.total = record.done, record.total
            if not self.in_place and record.done < record.total and self.console.filter(record):
                self._write_status("\n")
        if self.in_place and 0 < self.total and self.done < self.total and self.running:
            self._write_status("")
            self.status_shown = True

    def _write_status(self, end: str) -> None:
        line = status_line(self.done, self.total, list(self.running.values()), self.eta.estimate(), datetime.now())
        if self.in_place:  # a wrapped line could not be erased in place
            line = line[: shutil.get_terminal_size().columns - 1]
        self.console.stream.write(line + end)
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
