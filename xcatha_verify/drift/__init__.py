"""Drift reports: the history of scheduled drift runs, what changed between them, and the files monitors read.

:func:`record_run` records one run (``RUN_ID/run.json``) and rewrites ``index.html``, ``latest.json`` and
``xcatha.prom`` under a lock; :func:`record_in_progress` records a run that found a runbook holding the
run lock and judged nothing; :func:`exit_status` is the run's status for monitors. Schema and metrics:
``docs/drift-schema.md``. The modules, along the way a run takes: ``runlocks`` (is a runbook changing the
pair now?), ``records`` (a node's outcome, the
run's record), ``build`` (the record from the nodes' summaries), ``changes`` (what changed since the run
before), ``store`` (the history on disk: lock, retention, the files), ``prometheus`` and ``page`` (the
two outputs made from the newest run and the history).
"""

from xcatha_verify.drift.records import DriftRun, NodeOutcome, exit_status
from xcatha_verify.drift.store import DEFAULT_KEEP_DAYS, apply_retention, record_in_progress, record_run

__all__ = [
    "DEFAULT_KEEP_DAYS", "DriftRun", "NodeOutcome", "apply_retention", "exit_status", "record_in_progress",
    "record_run",
]
