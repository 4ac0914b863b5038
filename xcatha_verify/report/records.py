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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from xcatha_verify import __version__
from xcatha_verify.errors import EXIT_FAILED, EXIT_UNREACHABLE, XcathaError
from xcatha_verify.files import write_atomic

__all__ = [
    "MASK", "OUTCOMES", "SCHEMA_VERSION", "CheckResult", "Outcome", "RunSummary", "SummaryUnreadable", "redact",
    "redact_tree", "register_secret",
]

SCHEMA_VERSION = "2"  # 2: the outcome "blocked" and its blocked_by
READABLE_SCHEMA_VERSIONS = ("1", "2")  # a version-1 summary reads as one with no blocked check
MASK = "********"
# The result standing for a node's summary that was not written or cannot be read (outcome "error").
SUMMARY_CHECK = "xcatha.summary"
# blocked_by of a check blocked by a node that could not be reached: "<node> unreachable"
UNREACHABLE_CAUSE = " unreachable"


def blocked_by_unreachable(blocked_by: str) -> bool:
    """Whether a blocked check's cause is a node that could not be reached (not a check that failed)."""
    return blocked_by.endswith(UNREACHABLE_CAUSE)
Outcome = Literal["passed", "failed", "error", "blocked", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "blocked", "skipped")

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


def redact_tree(value: Any) -> Any:
    """`value` with every string in it (keys too) redacted, tuples as lists, paths as strings: what JSON will hold."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    if isinstance(value, os.PathLike):
        return redact(os.fspath(value))
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
    message: str = ""  # one line: why it errored, was blocked or was skipped
    duration_s: float = 0.0
    started_at: str = ""  # ISO 8601 with offset
    # outcome "blocked": what broke that the check depends on (a check id, or "<node> unreachable")
    blocked_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(redact_tree(asdict(self)))

    @classmethod
    def from_dict(cls, data: Any, where: str) -> CheckResult:
        if not isinstance(data, dict) or not isinstance(data.get("check_id"), str) or not data["check_id"]:
            raise SummaryUnreadable(f"{where}: a result without a check_id")
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:
            raise SummaryUnreadable(f"{where}: {data['check_id']}: outcome {outcome!r}, expected one of {OUTCOMES}")
        text = {name: str(data.get(name) or "") for name in ("node", "phase", "observed", "expected", "fix",
                                                             "message", "started_at", "blocked_by")}  # fmt: skip
        return cls(check_id=data["check_id"], outcome=outcome, duration_s=float(data.get("duration_s") or 0), **text)


class SummaryUnreadable(XcathaError):
    """A JSON run summary is missing, not JSON, or not a version-1 summary."""


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
    unreachable: str = ""  # why the node could not be reached; then no check ran
    schema_version: str = SCHEMA_VERSION

    @property
    def counts(self) -> dict[str, int]:
        return {outcome: sum(r.outcome == outcome for r in self.results) for outcome in OUTCOMES}

    @property
    def ready(self) -> bool:
        """At least one check ran and none failed, errored or was blocked (skipped checks do not count)."""
        return not self.unreachable and self.counts["passed"] > 0 and not self.not_ready

    @property
    def failing(self) -> list[CheckResult]:
        """The results that failed or errored, in order."""
        return [r for r in self.results if r.outcome in ("failed", "error")]

    @property
    def blocked(self) -> list[CheckResult]:
        """The results that could not judge because something they depend on is broken, in order."""
        return [r for r in self.results if r.outcome == "blocked"]

    @property
    def not_ready(self) -> list[CheckResult]:
        """What keeps the node from ready: the failing results, then the blocked ones."""
        return self.failing + self.blocked

    @property
    def exit_status(self) -> int:
        """3 when the node, or a peer a check needed, could not be reached; else 1 when a check did not
        pass (failed, errored, or blocked by one that failed); else 0."""
        if self.unreachable or any(blocked_by_unreachable(r.blocked_by) for r in self.blocked):
            return EXIT_UNREACHABLE
        return EXIT_FAILED if self.not_ready else 0

    @property
    def verdict(self) -> str:
        counts = self.counts
        ran = counts["passed"] + counts["failed"] + counts["error"]
        if self.unreachable:
            return f"NOT READY: {self.node} unreachable: {self.unreachable}"
        if self.ready:
            return f"READY: all {ran} checks passed"
        ran += counts["blocked"]
        if ran == 0:
            return "NOT READY: no check ran"
        bad = counts["failed"] + counts["error"]
        errors = f" ({counts['error']} could not run)" if counts["error"] else ""
        causes = sorted({r.blocked_by for r in self.blocked})
        blocked = f"; {counts['blocked']} blocked by {', '.join(causes)}" if counts["blocked"] else ""
        return f"NOT READY: {bad} of {ran} checks failed{errors}{blocked}"

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
            "unreachable": self.unreachable,
        }
        return dict(redact_tree(data))

    @classmethod
    def standing_in(cls, node: str, phase: str, *, cluster: str = "", inventory: str = "", unreachable: str = "",
                    lost: str = "") -> RunSummary:  # fmt: skip
        """A summary written here, not by a check run: for a node that could not be reached (`unreachable`,
        no result), or for one whose summary was not written or cannot be read (`lost`: one errored
        result, SUMMARY_CHECK, so a run never passes silently)."""
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        results = [CheckResult(SUMMARY_CHECK, node, phase, "error", message=lost)] if lost else []
        return cls(__version__, cluster, node, phase, now, inventory, finished_at=now, results=results,
                   unreachable=unreachable)  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary") -> RunSummary:
        """The summary `to_dict` wrote (unknown fields ignored); SummaryUnreadable naming `where` and the key."""
        if not isinstance(data, dict):
            raise SummaryUnreadable(f"{where}: expected a JSON object")
        if str(data.get("schema_version")) not in READABLE_SCHEMA_VERSIONS:
            version = data.get("schema_version")
            raise SummaryUnreadable(f"{where}: schema_version {version!r}, expected one of {READABLE_SCHEMA_VERSIONS}")
        if not isinstance(data.get("results"), list):
            raise SummaryUnreadable(f"{where}: results: expected a list")
        text = {name: str(data.get(name) or "") for name in ("tool_version", "cluster", "node", "phase", "started_at",
                                                             "inventory", "finished_at", "unreachable")}  # fmt: skip
        environment = data.get("environment")
        return cls(**text, environment=environment if isinstance(environment, dict) else {},
                   results=[CheckResult.from_dict(r, where) for r in data["results"]])  # fmt: skip

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunSummary:
        """The summary in the JSON file at `path`; SummaryUnreadable naming the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SummaryUnreadable(f"JSON summary missing: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SummaryUnreadable(f"JSON summary unreadable: {path}: {exc}") from None
        return cls.from_dict(data, str(path))

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write the summary atomically; 0644 like its HTML siblings (secrets are already redacted)."""
        write_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
