"""The drift history's page, ``index.html``: every run, newest first, with what changed since the one before.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from xcatha_verify.drift.records import IN_PROGRESS, LATEST_NAME, PROM_NAME, DriftRun, now_iso
from xcatha_verify.html import page_templates

_env = page_templates("xcatha_verify.drift")


# --- index.html -------------------------------------------------------------------------------------

_HEADLINES = {
    "green": "GREEN", "drift": "DRIFT", "unreachable": "NODE UNREACHABLE", IN_PROGRESS: "FAILOVER IN PROGRESS",
}  # fmt: skip


def _time(stamp: str) -> str:
    return stamp.replace("T", " ") if stamp else ""


def _href(run_id: str, path: str) -> str:
    """A link from the index: ``RUN_ID/<file>`` for a report in the run directory, else a file: URI."""
    if Path(path).is_absolute():
        return Path(path).as_uri()
    return "/".join(urllib.parse.quote(part) for part in (run_id, *Path(path).parts))


def _run_context(run: DriftRun) -> dict[str, Any]:
    nodes = [{
        "name": name, "role": node.get("role") or "", "reachable": bool(node.get("reachable")),
        "message": node.get("message", ""),
        "reports": [{"kind": kind, "name": Path(path).name, "href": _href(run.run_id, path)}
                    for kind, path in sorted((node.get("reports") or {}).items())],
    } for name, node in sorted(run.nodes.items())]  # fmt: skip
    changes = run.changes or {}
    since = {item["key"]: item["since"] for name in ("newly_failing", "still_failing")
             for item in changes.get(name, [])}  # fmt: skip
    failing = [{**run.checks[key], "since": _time(since.get(key, ""))} for key in sorted(run.failing)]

    def items(name: str) -> list[dict[str, Any]]:
        return [{**item, "since": _time(item.get("since", ""))} for item in changes.get(name, [])]

    return {
        "run_id": run.run_id, "cluster": run.cluster, "started_at": _time(run.started_at),
        "verdict": run.verdict, "headline": _HEADLINES[run.verdict], "counts": run.counts, "nodes": nodes,
        "failing": failing, "newly_failing": items("newly_failing"), "resolved": items("resolved"),
        "still_failing": items("still_failing"), "not_checked": items("not_checked"), "blocked": items("blocked"),
        "previous_run_id": changes.get("previous_run_id"), "judged": run.judged, "note": run.note,
        "run_lock": {**run.run_lock, "started_at": _time(str(run.run_lock.get("started_at", "")))}
        if run.run_lock else None,
    }  # fmt: skip


def render_index(runs: list[DriftRun]) -> str:
    """The history page: the runs newest first, the newest in a box at the top."""
    ordered = sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)
    contexts = [_run_context(r) for r in ordered]
    clusters = sorted({r.cluster for r in ordered if r.cluster})
    # Above a run in progress: what the last run that judged the pair said.
    last_judged = next((c for c in contexts if c["judged"]), None)
    return _env.get_template("index.html.j2").render(
        runs=contexts, latest=contexts[0] if contexts else None, clusters=clusters, last_judged=last_judged,
        generated_at=_time(now_iso()), latest_name=LATEST_NAME, prom_name=PROM_NAME,
    )  # fmt: skip
