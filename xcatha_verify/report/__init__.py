"""Reporting: the one result record (:mod:`.records`) and the pytest plugin that writes it everywhere
(:mod:`.recorder`).

Checks that learn a secret at run time hide it from every report with ``register_secret(value)``.
"""

from xcatha_verify.report.records import (
    MASK,
    SCHEMA_VERSION,
    CheckResult,
    Outcome,
    RunSummary,
    SummaryUnreadable,
    redact,
    register_secret,
)

__all__ = [
    "MASK", "SCHEMA_VERSION", "CheckResult", "Outcome", "RunSummary", "SummaryUnreadable", "redact", "register_secret",
]
