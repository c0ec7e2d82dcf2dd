"""The report stage: tables, figures, statistics and diagnostics from the pipeline's records.

It reads the records the stages wrote (metrics, ranks, searches, benchmarks, predictions) and
imports no stage: ``tables`` and ``figures`` (paper-style tables and the rank figures),
``stats`` and ``differences`` (paired comparisons with their intervals and verdicts),
``diagnostics`` (rank allocation across seeds), ``cost`` (time, memory and parameters),
``compare`` (a run beside the reference), ``module_names`` (where an adapted matrix sits) and
``splice_tables`` (committed tables into the docs).
"""
