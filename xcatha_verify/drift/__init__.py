"""Drift reports: the history of scheduled drift runs, what changed between them, and the files monitors read.

:func:`record_run` records one run (``RUN_ID/run.json``) and rewrites ``index.html``, ``latest.json`` and
``xcatha.prom`` under a lock; :func:`exit_status` is the run's status for monitors. Schema and metrics:
``docs/drift-schema.md``.
"""

from xcatha_verify.drift.history import (
    DEFAULT_KEEP_DAYS,
    DriftRun,
    NodeOutcome,
    apply_retention,
    exit_status,
    record_run,
)

__all__ = ["DEFAULT_KEEP_DAYS", "DriftRun", "NodeOutcome", "apply_retention", "exit_status", "record_run"]
