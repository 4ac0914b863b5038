"""A drift run's records: each node's outcome (its role and summary) and the run's record, ``run.json``
(``docs/drift-schema.md``, schema version "2"), with the exit status monitors read.

A run that found a runbook holding the run lock (a failover under way) is recorded *in progress*: its
checks are not judged, it carries the lock (`run_lock`) and a `note`, and exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xcatha_verify import __version__
from xcatha_verify.errors import EXIT_FAILED, EXIT_UNREACHABLE, UsageError
from xcatha_verify.report import redact
from xcatha_verify.report.records import RunSummary, SummaryUnreadable, blocked_by_unreachable

if TYPE_CHECKING:
    from xcatha_verify.runner import RunResult

SCHEMA_VERSION = "2"  # 2: checks carry blocked_by; counts and changes carry blocked
# The history's files under its report root (store.py writes them).
RUN_NAME = "run.json"
INDEX_NAME = "index.html"
LATEST_NAME = "latest.json"
PROM_NAME = "xcatha.prom"
LOCK_NAME = ".drift.lock"
FAILING = ("failed", "error")
LINE_WIDTH = 500
IN_PROGRESS = "in-progress"  # the verdict of a run that found a runbook holding the run lock


@dataclass(frozen=True)
class NodeOutcome:
    """One node's part of a drift run: its role, its summary (the runner's record of its checks, or why
    it could not be reached) and its JSON summary's path, whose HTML and JUnit siblings (same name,
    ``.html`` and ``.xml``) the index links."""

    node: str
    role: str | None
    summary: RunSummary
    summary_json: Path | None = None

    @property
    def status(self) -> int:
        """What the node alone would exit with: unreachable, a check did not pass, or 0."""
        return self.summary.exit_status

    @classmethod
    def from_run_result(cls, result: RunResult) -> NodeOutcome:
        json_path = next((p for p in result.reports if p.suffix == ".json"), None)
        return cls(result.run.node.name, result.run.role, result.summary, json_path)

    @classmethod
    def read(cls, node: str, role: str | None, summary_json: Path) -> NodeOutcome:
        """From a JSON summary on disk; one that is missing or unreadable stands as one errored check
        (``xcatha.summary``), so a run never passes silently."""
        try:
            summary = RunSummary.load(summary_json)
        except SummaryUnreadable as exc:
            summary = RunSummary.standing_in(node, "drift", lost=str(exc))
        return cls(node, role, summary, summary_json)

    @classmethod
    def unreachable(cls, node: str, role: str | None, why: str) -> NodeOutcome:
        return cls(node, role, RunSummary.standing_in(node, "drift", unreachable=why or "unreachable"))


@dataclass
class DriftRun:
    """One drift run of a pair: the record in ``RUN_ID/run.json`` and, for the newest run, ``latest.json``.

    `nodes`: ``{node: {"role", "reachable", "status", "message", "reports": {"html"|"junit"|"json": path}}}``
    with report paths relative to the run directory. `checks`: ``{"<node>/<check_id>": {"node", "check_id",
    "outcome", "observed", "fix", "message", "blocked_by"}}`` (first lines only). `counts`: ``passed``,
    ``failed``, ``error``, ``blocked``, ``skipped``, ``unreachable_nodes``. `changes`: see :func:`diff_runs`.
    `run_lock`: the lock of the runbook run found under way (``{"runbook", "run_id", "owner", "host", "pid",
    "started_at", "found_on"}``), None for a judged run. `note`: one line for people (why the run was not
    judged, or a stale lock it passed over), ``""`` when there is nothing to say.
    """

    run_id: str
    started_at: str
    cluster: str
    nodes: dict[str, dict[str, Any]]
    checks: dict[str, dict[str, str]]
    counts: dict[str, int]
    changes: dict[str, Any] = field(default_factory=dict)
    finished_at: str = ""
    run_lock: dict[str, Any] | None = None
    note: str = ""
    tool_version: str = __version__
    schema_version: str = SCHEMA_VERSION

    @property
    def unreachable(self) -> list[str]:
        return [name for name, node in self.nodes.items() if not node.get("reachable")]

    @property
    def failing(self) -> list[str]:
        """Keys (``node/check_id``) of the checks that failed or errored."""
        return [key for key, c in self.checks.items() if c.get("outcome") in FAILING]

    @property
    def blocked(self) -> list[str]:
        """Keys of the checks that could not judge because something they depend on is broken."""
        return [key for key, c in self.checks.items() if c.get("outcome") == "blocked"]

    @property
    def judged(self) -> bool:
        """Whether the checks were judged: not when a runbook held the run lock (the pair was changing)."""
        return self.run_lock is None

    @property
    def verdict(self) -> str:
        """``in-progress`` (a runbook held the run lock: not judged), ``unreachable`` (a node could not be
        checked), ``drift`` (a check failed or was blocked) or ``green``."""
        if not self.judged:
            return IN_PROGRESS
        if self.unreachable:
            return "unreachable"
        return "drift" if self.failing or self.blocked else "green"

    @property
    def started(self) -> datetime:
        return parse_time(self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "run_id": self.run_id,
            "cluster": self.cluster,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": self.verdict,
            "exit_status": exit_status(self),
            "counts": self.counts,
            "nodes": self.nodes,
            "checks": self.checks,
            "changes": self.changes,
            "run_lock": self.run_lock,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftRun:
        return cls(
            run_id=str(data["run_id"]), started_at=str(data["started_at"]), cluster=str(data.get("cluster", "")),
            nodes=dict(data.get("nodes") or {}), checks=dict(data.get("checks") or {}),
            counts=dict(data.get("counts") or {}), changes=dict(data.get("changes") or {}),
            finished_at=str(data.get("finished_at", "")), run_lock=_lock_or_none(data.get("run_lock")),
            note=str(data.get("note") or ""), tool_version=str(data.get("tool_version", "")),
            schema_version=str(data.get("schema_version", SCHEMA_VERSION)),
        )  # fmt: skip


def _lock_or_none(value: Any) -> dict[str, Any] | None:
    """A record's `run_lock`: an object, else None (a version-2 record before it existed has none)."""
    return dict(value) if isinstance(value, dict) and value else None


def exit_status(run: DriftRun) -> int:
    """For monitors: 0 a runbook held the run lock (not judged: the pair was meant to be changing), else 3
    a node could not be reached (a check blocked by an unreachable peer too), else 1 a check failed, errored
    or was blocked by one that did, else 0."""
    if not run.judged:
        return 0
    if run.unreachable or any(blocked_by_unreachable(run.checks[k].get("blocked_by", "")) for k in run.blocked):
        return EXIT_UNREACHABLE
    return EXIT_FAILED if run.failing or run.blocked else 0


def parse_time(stamp: str) -> datetime:
    """ISO 8601; a time without offset is taken as local time."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"not an ISO 8601 time: {stamp!r}") from exc
    return moment if moment.tzinfo else moment.astimezone()


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    line = redact(lines[0]) if lines else ""
    return line if len(line) <= LINE_WIDTH else line[: LINE_WIDTH - 3] + "..."
