"""The one result record of a run: every output (console, HTML, JUnit XML, JSON) is written from it.

A :class:`CheckResult` per check and one :class:`RunSummary` per run (one node, one phase). Both are
plain data; ``RunSummary.to_dict()`` is the JSON document described in ``docs/report-schema.md``.

Secrets never reach an output: :func:`redact` hides the password field of xCAT cfgloc lines
(``Pg:dbname=xcatdb;host=...|xcatadm|PASSWORD``, likewise ``mysql:``) and every value given to
:func:`register_secret`. Registration is per process: the pytest run that writes the reports must
learn the secret itself (a check calls ``register_secret``, or the CLI passes ``--xcatha-secrets-file``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from xcatha_verify.files import write_atomic

__all__ = [
    "MASK", "OUTCOMES", "SCHEMA_VERSION", "CheckResult", "Outcome", "RunSummary", "redact", "register_secret",
]

SCHEMA_VERSION = "1"
MASK = "********"
Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped")

# cfgloc is "<Pg|mysql>:dbname=...;host=...|user|password": keep the first two fields, hide the rest
# of the word (the password ends at whitespace here; anything after it up to that point goes too).
_CFGLOC_PASSWORD = re.compile(r"(?i)\b((?:pg|mysql):[^|\s]*\|[^|\s]*\|)\S+")
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Hide `value` in everything this process writes from now on (empty values are ignored)."""
    if value and value.strip():
        _secrets.add(value)
        _secrets.add(repr(value)[1:-1])  # as it appears inside a repr() in a traceback


def redact(text: str) -> str:
    """`text` with cfgloc passwords and registered secrets replaced by ``********``."""
    text = _CFGLOC_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check on one node: its outcome and, when it failed, what was seen, wanted and how to fix it."""

    check_id: str
    node: str
    phase: str
    outcome: Outcome
    observed: str = ""
    expected: str = ""
    fix: str = ""
    message: str = ""  # one line: why it errored or was skipped
    duration_s: float = 0.0
    started_at: str = ""  # ISO 8601 with offset

    def to_dict(self) -> dict[str, Any]:
        return _redact_tree(asdict(self))  # type: ignore[no-any-return]


@dataclass(slots=True)
class RunSummary:
    """One run of one phase's checks against one node."""

    tool_version: str
    cluster: str
    node: str
    phase: str
    started_at: str
    inventory: str  # path of the inventory file
    environment: dict[str, Any] = field(default_factory=dict)
    finished_at: str = ""
    results: list[CheckResult] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    @property
    def counts(self) -> dict[str, int]:
        return {outcome: sum(r.outcome == outcome for r in self.results) for outcome in OUTCOMES}

    @property
    def ready(self) -> bool:
        """At least one check ran and none failed or errored (skipped checks do not count against)."""
        counts = self.counts
        return counts["passed"] > 0 and counts["failed"] == counts["error"] == 0

    @property
    def verdict(self) -> str:
        counts = self.counts
        ran = counts["passed"] + counts["failed"] + counts["error"]
        if self.ready:
            return f"READY: all {ran} checks passed"
        if ran == 0:
            return "NOT READY: no check ran"
        bad = counts["failed"] + counts["error"]
        errors = f" ({counts['error']} could not run)" if counts["error"] else ""
        return f"NOT READY: {bad} of {ran} checks failed{errors}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "cluster": self.cluster,
            "node": self.node,
            "phase": self.phase,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "inventory": self.inventory,
            "environment": self.environment,
            "ready": self.ready,
            "counts": self.counts,
            "results": [r.to_dict() for r in self.results],
        }
        return _redact_tree(data)  # type: ignore[no-any-return]

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write the summary atomically; 0644 like its HTML siblings (secrets are already redacted)."""
        write_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
