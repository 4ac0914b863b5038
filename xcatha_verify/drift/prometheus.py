"""The newest drift run as a Prometheus textfile for node_exporter's textfile collector (``xcatha.prom``).
"""

from __future__ import annotations

from xcatha_verify.drift.records import FAILING, DriftRun


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
    ]
    return "\n".join(lines) + "\n"
