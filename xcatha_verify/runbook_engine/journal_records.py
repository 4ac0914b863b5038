"""What a journal holds, and how each part reads and writes itself (``docs/journal-schema.md``).

The statuses a step, a gate and a run can have, one record per step and per gate, and the rules every
string obeys on its way to the file: masked by :func:`xcatha_verify.report.redact` when recorded and
again whenever the file is written. A reader ignores fields it does not know and names what is missing.
"""


from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal, get_args

from xcatha_verify.errors import UsageError
from xcatha_verify.report.records import CheckResult, SummaryUnreadable, redact, redact_tree

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
JOURNAL_NAME = "journal.json"
TAIL_LINES = 20
# What the journal keeps of a gate's failing check (docs/journal-schema.md).
FAILING_KEYS = ("check_id", "outcome", "observed", "expected", "fix", "message", "blocked_by")

StepStatus = Literal["pending", "running", "ok", "failed", "skipped", "dry-run", "interrupted"]
GateStatus = Literal["passed", "failed", "advisory-failed"]
GateWhen = Literal["before", "after"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted", "dry-run", "refused"]
STEP_STATUSES: tuple[str, ...] = get_args(StepStatus)
GATE_STATUSES: tuple[str, ...] = get_args(GateStatus)
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
RESUMABLE: tuple[str, ...] = ("failed", "interrupted")

STEP_DONE = ("ok", "skipped")  # a phase with only these steps did its work
GATE_OK = ("passed", "advisory-failed")  # gates that let a run move on


class JournalError(UsageError):
    """A journal file is missing, unreadable or not a version-1 journal (exit status 2)."""


def now_iso() -> str:
    """Now, as ISO 8601 local time with UTC offset, to the millisecond: ``2026-11-25T07:06:38.412+01:00``.

    Milliseconds because the run page's timeline and the outage window are read from these times."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text`, masked (redacted whole first, so no secret is cut in half)."""
    return "\n".join(redact(text).rstrip("\n").splitlines()[-lines:])


def check_value(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def known_fields(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The fields of `data` that `cls` knows (a reader ignores unknown fields); missing required ones fail."""
    if not isinstance(data, Mapping):
        raise JournalError(f"{where}: expected an object")
    names = {f.name for f in fields(cls) if f.init and not f.name.startswith("_")}
    required = getattr(cls, "_required", ())
    missing = [name for name in required if name not in data]
    if missing:
        raise JournalError(f"{where}: missing {', '.join(missing)}")
    return {k: v for k, v in data.items() if k in names}


@dataclass(slots=True)
class StepRecord:
    """One step on one node: what ran (masked), how it ended and the last lines it printed (masked)."""

    _required: ClassVar[tuple[str, ...]] = ("phase", "name", "status")

    phase: str
    index: int  # position within its phase, from 1
    name: str
    node: str
    command: str  # the rendered command or action description, secrets masked
    status: StepStatus = "pending"
    exit_status: int | None = None
    started_at: str | None = None
    duration_s: float | None = None
    output_tail: str = ""  # last TAIL_LINES lines of stdout+stderr, masked
    attempts: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": redact(self.phase), "index": self.index, "name": redact(self.name), "node": redact(self.node),
            "command": redact(self.command), "status": self.status, "exit_status": self.exit_status,
            "started_at": self.started_at, "duration_s": self.duration_s, "output_tail": redact(self.output_tail),
            "attempts": self.attempts, "note": redact(self.note),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        known = known_fields(cls, data, "step")
        known.setdefault("index", 0)
        known.setdefault("node", "")
        known.setdefault("command", "")
        check_value(known["status"], STEP_STATUSES, "step status")
        return cls(**known)


@dataclass(slots=True)
class GateRecord:
    """One gate: a phase's checks run on one node before or after its steps, and what failed."""

    _required: ClassVar[tuple[str, ...]] = ("phase", "when", "status")

    phase: str
    when: GateWhen
    node: str
    checks: list[str] = field(default_factory=list)  # the check phase's name, or the check ids
    status: GateStatus = "passed"
    failing: list[CheckResult] = field(default_factory=list)  # the checks that failed, errored or were blocked
    report_paths: list[str] = field(default_factory=list)  # HTML reports; relative to the run dir when inside it
    started_at: str | None = None
    duration_s: float | None = None
    unreachable: str = ""  # why the gate's node could not be reached (then no check ran)

    def __post_init__(self) -> None:
        check_value(self.when, ("before", "after"), "gate when")
        # Older journals: statuses nothing produced, read as what they would have meant.
        self.status = {"error": "failed", "skipped": "passed"}.get(self.status, self.status)  # type: ignore[assignment]
        check_value(self.status, GATE_STATUSES, "gate status")
        self.checks = [str(c) for c in self.checks]
        self.report_paths = [os.fspath(p) for p in self.report_paths]
        self.failing = [f if isinstance(f, CheckResult) else self._result(f) for f in self.failing]

    def _result(self, data: Mapping[str, Any]) -> CheckResult:
        """A failing entry as the journal holds it (check_id, observed, expected, fix; outcome, message)."""
        try:
            return CheckResult.from_dict({"node": self.node, "outcome": "failed", **data}, "gate failing")
        except SummaryUnreadable as exc:
            raise JournalError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": redact(self.phase), "when": self.when, "node": redact(self.node),
            "checks": redact_tree(self.checks), "status": self.status, "report_paths": redact_tree(self.report_paths),
            "failing": [{k: redact(getattr(f, k)) for k in FAILING_KEYS} for f in self.failing],
            "started_at": self.started_at, "duration_s": self.duration_s, "unreachable": redact(self.unreachable),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateRecord:
        known = known_fields(cls, data, "gate")
        known.setdefault("node", "")
        try:
            return cls(**known)
        except ValueError as exc:
            raise JournalError(f"gate: {exc}") from None
