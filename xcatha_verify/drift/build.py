"""A drift run's record made from its nodes' outcomes: every check of every reachable node, the worst
outcome standing for an id seen twice, each node's report files (no history, no file written); or, when a
runbook held the run lock, the record of a run that judged nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from xcatha_verify.drift.records import DriftRun, NodeOutcome, first_line, now_iso, parse_time
from xcatha_verify.errors import EXIT_UNREACHABLE, UsageError
from xcatha_verify.report.records import OUTCOMES
from xcatha_verify.runbook_engine.lock import LockInfo

log = logging.getLogger(__name__)
_REPORT_KINDS = (("html", ".html"), ("junit", ".xml"), ("json", ".json"))


def _report_paths(summary_json: Path, run_dir: Path) -> dict[str, str]:
    """The node's reports that exist, relative to the run directory when inside it."""
    base = summary_json.with_suffix("")
    found = {}
    for kind, ext in _REPORT_KINDS:
        path = base.with_name(base.name + ext)
        if path.is_file():
            try:
                found[kind] = path.resolve().relative_to(run_dir.resolve()).as_posix()
            except ValueError:
                found[kind] = str(path.resolve())
    return found


def _outcome_rank(outcome: str) -> int:
    return {"error": 4, "failed": 3, "blocked": 2, "passed": 1}.get(outcome, 0)


def build_run(run_dir: Path, cluster: str, started_at: str, node_results: list[NodeOutcome]) -> DriftRun:
    """The run's record from its nodes' outcomes and JSON summaries (no history, no files written).

    A reachable node whose summary is missing or unreadable gets one check ``xcatha.summary`` with
    outcome ``error``: a run never passes silently.
    """
    if not node_results:
        raise UsageError("a drift run needs at least one node")
    parse_time(started_at)
    run_dir = Path(run_dir)
    nodes: dict[str, dict[str, Any]] = {}
    checks: dict[str, dict[str, str]] = {}
    for outcome in node_results:
        unreachable = outcome.summary.unreachable
        entry: dict[str, Any] = {
            "role": outcome.role, "reachable": not unreachable, "status": outcome.status,
            "message": first_line(unreachable), "reports": {},
        }  # fmt: skip
        nodes[outcome.node] = entry
        if unreachable:
            continue
        if outcome.summary_json is not None:
            entry["reports"] = _report_paths(Path(outcome.summary_json), run_dir)
        for result in outcome.summary.results:
            key = f"{outcome.node}/{result.check_id}"
            item = {
                "node": outcome.node, "check_id": result.check_id, "outcome": result.outcome,
                "observed": first_line(result.observed), "fix": first_line(result.fix),
                "message": first_line(result.message), "blocked_by": first_line(result.blocked_by),
            }  # fmt: skip
            # The same id twice on a node (a parametrized check): the worst outcome stands for it.
            if key not in checks or _outcome_rank(item["outcome"]) > _outcome_rank(checks[key]["outcome"]):
                checks[key] = item
    counts: dict[str, int] = {outcome: sum(c["outcome"] == outcome for c in checks.values())
              for outcome in OUTCOMES}  # fmt: skip
    counts["unreachable_nodes"] = sum(not n["reachable"] for n in nodes.values())
    return DriftRun(
        run_id=run_dir.name, started_at=started_at, cluster=cluster, nodes=nodes, checks=checks, counts=counts,
        finished_at=now_iso(),
    )  # fmt: skip


def in_progress_note(lock: LockInfo) -> str:
    """The one line a run not judged says, on the console and in its record."""
    return first_line(f"failover in progress (run {lock.run_id}, {lock.runbook}, {lock.owner}, "
                      f"since {lock.started_at}): not judged")  # fmt: skip


def build_in_progress_run(
    run_dir: Path, cluster: str, started_at: str, lock: LockInfo, found_on: list[str], nodes: dict[str, str]
) -> DriftRun:
    """The record of a run that found `lock` held by a live run at `found_on`: no check judged.

    `nodes`: every node of the pair -> ``""`` when it was asked for its locks, else why it could not be
    reached. Roles are not decided (the VIP may be moving), so they are null.
    """
    if not nodes:
        raise UsageError("a drift run needs at least one node")
    parse_time(started_at)
    entries: dict[str, dict[str, Any]] = {
        name: {"role": None, "reachable": not why, "status": EXIT_UNREACHABLE if why else 0, "message": first_line(why),
               "reports": {}}
        for name, why in nodes.items()
    }  # fmt: skip
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    counts["unreachable_nodes"] = sum(bool(why) for why in nodes.values())
    run_lock = {
        "runbook": lock.runbook, "run_id": lock.run_id, "owner": first_line(lock.owner), "host": lock.host,
        "pid": lock.pid, "started_at": lock.started_at, "found_on": list(found_on),
    }  # fmt: skip
    return DriftRun(
        run_id=Path(run_dir).name, started_at=started_at, cluster=cluster, nodes=entries, checks={}, counts=counts,
        finished_at=now_iso(), run_lock=run_lock, note=in_progress_note(lock),
    )  # fmt: skip
