"""What changed between two drift runs: newly failing, still failing (with the time its streak began,
carried from record to record so it survives retention), resolved, not checked (its node
unreachable now; the streak is kept) and blocked (it could not judge: never resolved by that).

Only judged runs are compared: a run recorded while a runbook held the run lock has no changes, and the
run after it compares with the last judged run (the store picks it).
"""

from __future__ import annotations

from typing import Any

from xcatha_verify.drift.records import FAILING, DriftRun

_CHANGE_LISTS = ("newly_failing", "resolved", "still_failing", "not_checked", "blocked")


def _open_failures(run: DriftRun) -> dict[str, dict[str, Any]]:
    """The failures a run hands on to the next one: failing, or failing when last checked, with their streak."""
    changes = run.changes or {}
    if not any(name in changes for name in _CHANGE_LISTS):  # a record without changes: its failures start here
        return {key: {"key": key, **run.checks[key], "since": run.started_at} for key in run.failing}
    handed_on = [item for name in ("newly_failing", "still_failing", "not_checked") for item in changes.get(name, [])]
    handed_on += [item for item in changes.get("blocked", []) if item.get("since")]  # a failure's streak, kept
    return {item["key"]: item for item in handed_on}


def diff_runs(previous: DriftRun | None, current: DriftRun) -> dict[str, Any]:
    """What changed from `previous` (the last judged run before `current`, None for the first) to `current`.

    ``{"previous_run_id", "newly_failing", "resolved", "still_failing", "not_checked"}``, each list of
    ``{"key", "node", "check_id", "outcome", "observed", "fix", "message", "since"}`` sorted by key:

    - newly_failing: failing now, not failing in `previous` (every failure of a first run);
      since = this run's start.
    - still_failing: failing now and in `previous` (or when its node was last checked); since = the start
      of the first run of the streak.
    - resolved: failing in `previous`, not failing now on a node that was checked; outcome = what it is
      now (``passed``, ``skipped``, or ``absent`` when the check did not run), observed/fix = the failure's.
    - not_checked: failing in `previous`, its node unreachable now; the streak is kept.
    - blocked: blocked now (with its blocked_by); since = the streak's start when it was failing in
      `previous` (the streak is kept: a blocked check is never resolved), else empty.

    A `current` not judged (a runbook held the run lock) has every list empty: nothing was looked at.
    """
    if not current.judged:
        return {"previous_run_id": previous.run_id if previous else None, **{name: [] for name in _CHANGE_LISTS}}
    before = _open_failures(previous) if previous is not None else {}
    unreachable = set(current.unreachable)
    changes: dict[str, Any] = {"previous_run_id": previous.run_id if previous else None}
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _CHANGE_LISTS}
    for key in current.failing:
        check = current.checks[key]
        since = before[key]["since"] if key in before else current.started_at
        lists["still_failing" if key in before else "newly_failing"].append({"key": key, **check, "since": since})
    for key in current.blocked:
        lists["blocked"].append({"key": key, **current.checks[key], "since": before.get(key, {}).get("since", "")})
    for key, item in before.items():
        if key in current.checks and current.checks[key]["outcome"] in (*FAILING, "blocked"):
            continue
        if item["node"] in unreachable or (item["node"] not in current.nodes and key not in current.checks):
            lists["not_checked"].append({**item, "outcome": "not checked"})
        else:
            now = current.checks[key]["outcome"] if key in current.checks else "absent"
            lists["resolved"].append({**item, "outcome": now})
    for name in _CHANGE_LISTS:
        changes[name] = sorted(lists[name], key=lambda i: i["key"])
    return changes
