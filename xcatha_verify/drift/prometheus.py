"""The newest drift run as a Prometheus textfile for node_exporter's textfile collector (``xcatha.prom``).

``xcatha_check_state`` keeps one series per check and state, so an unreachable node's checks (those
of its role, from the catalogue) stay in the file with ``state="unreachable"`` instead of vanishing.
A run that found a runbook holding the run lock judged no check: it has no check series (nothing to
alert on while the pair is moved on purpose), ``xcatha_failover_in_progress`` 1 and the lock's start
in ``xcatha_failover_started_timestamp_seconds`` (for an alert on a failover that never ends).
"""

from __future__ import annotations

from typing import Any

from xcatha_verify.checkkit import iter_checks, selected
from xcatha_verify.drift.records import FAILING, DriftRun, parse_time
from xcatha_verify.report.records import OUTCOMES

STATES = (*OUTCOMES, "unreachable")


def _role_checks(role: str) -> list[str]:
    """The ids of the checks a node of `role` runs in drift (its steady state's; pair checks run on the peer)."""
    return [c.id for c in iter_checks() if selected(c.phases, c.pair, "drift", role, with_pair=False)]


def _label(value: str) -> str:
    """A label value escaped per the text exposition format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_label(str(value))}"' for name, value in labels.items()) + "}"


def render_prometheus(run: DriftRun) -> str:
    """The run as a node_exporter textfile: one sample per check that ran (skipped ones are left out)."""
    lines = [
        "# HELP xcatha_check_ok 1 when the check passed in the newest drift run, 0 when it failed or errored.",
        "# TYPE xcatha_check_ok gauge",
    ]
    for key in sorted(run.checks):
        check = run.checks[key]
        if check["outcome"] in ("passed", *FAILING):
            labels = _labels(cluster=run.cluster, node=check["node"], check=check["check_id"])
            lines.append(f"xcatha_check_ok{labels} {1 if check['outcome'] == 'passed' else 0}")
    lines += [
        "# HELP xcatha_check_state 1 for the state each check is in after the newest drift run, 0 for the others.",
        "# TYPE xcatha_check_state gauge",
    ]
    states = {(c["node"], c["check_id"]): c["outcome"] for c in run.checks.values()}
    for name in run.unreachable:
        role = run.nodes[name].get("role") or "standby"
        states.update({(name, check_id): "unreachable" for check_id in _role_checks(role)})
    for (node, check_id), now in sorted(states.items()):
        for state in STATES:
            labels = _labels(cluster=run.cluster, node=node, check=check_id, state=state)
            lines.append(f"xcatha_check_state{labels} {1 if state == now else 0}")
    lines += [
        "# HELP xcatha_node_reachable 1 when the node could be checked in the newest drift run, 0 when unreachable.",
        "# TYPE xcatha_node_reachable gauge",
    ]
    for name in sorted(run.nodes):
        lines.append(f"xcatha_node_reachable{_labels(cluster=run.cluster, node=name)} "
                     f"{1 if run.nodes[name].get('reachable') else 0}")  # fmt: skip
    cluster = _labels(cluster=run.cluster)
    lines += [
        "# HELP xcatha_last_run_timestamp_seconds When the newest drift run started, in seconds since the epoch.",
        "# TYPE xcatha_last_run_timestamp_seconds gauge",
        f"xcatha_last_run_timestamp_seconds{cluster} {run.started.timestamp():.0f}",
        "# HELP xcatha_checks_failed Checks that failed or errored in the newest drift run.",
        "# TYPE xcatha_checks_failed gauge",
        f"xcatha_checks_failed{cluster} {len(run.failing)}",
        "# HELP xcatha_checks_blocked Checks that could not judge in the newest drift run (a cause they need broke).",
        "# TYPE xcatha_checks_blocked gauge",
        f"xcatha_checks_blocked{cluster} {len(run.blocked)}",
        "# HELP xcatha_failover_in_progress 1 when the newest drift run found a runbook holding the run lock "
        "(its checks not judged), else 0.",
        "# TYPE xcatha_failover_in_progress gauge",
        f"xcatha_failover_in_progress{cluster} {0 if run.judged else 1}",
    ]
    if run.run_lock:
        lines += _failover_started(run.cluster, run.run_lock)
    return "\n".join(lines) + "\n"


def _failover_started(cluster: str, run_lock: dict[str, Any]) -> list[str]:
    """The runbook run holding the lock: when it started (seconds since the epoch), whose and which in labels."""
    try:
        started = f"{parse_time(str(run_lock.get('started_at', ''))).timestamp():.0f}"
    except ValueError:  # a lock whose time cannot be read: the sample stays, its labels still say whose it is
        started = "NaN"
    labels = _labels(cluster=cluster, runbook=run_lock.get("runbook", ""), run_id=run_lock.get("run_id", ""),
                     owner=run_lock.get("owner", ""), host=run_lock.get("host", ""))  # fmt: skip
    return [
        "# HELP xcatha_failover_started_timestamp_seconds When the runbook run holding the run lock started, in "
        "seconds since the epoch.",
        "# TYPE xcatha_failover_started_timestamp_seconds gauge",
        f"xcatha_failover_started_timestamp_seconds{labels} {started}",
    ]
