"""Drift history without a lab: fake per-node JSON summaries (docs/report-schema.md) recorded run after run.

Each test builds a report root in a temporary directory, writes the nodes' summaries into run directories
with the project's own writer (:class:`RunSummary`), records them with :func:`record_run`, and reads back
what monitors and people read: the run records, ``latest.json``, ``index.html`` and ``xcatha.prom``.
"""

import json
import multiprocessing
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from xcatha_verify.drift import NodeOutcome, apply_retention, exit_status, record_in_progress, record_run
from xcatha_verify.drift.records import INDEX_NAME, LATEST_NAME, PROM_NAME, RUN_NAME, DriftRun
from xcatha_verify.drift.store import load_runs
from xcatha_verify.errors import UsageError
from xcatha_verify.report import CheckResult, RunSummary
from xcatha_verify.report.records import SUMMARY_CHECK
from xcatha_verify.runbook_engine.lock import LockInfo

CLUSTER = "lab"
ROLES = {"xcatmn1": "active", "xcatmn2": "standby"}
CHECKS = {
    "xcatmn1": ("vip.present", "services.running", "pair.hosts_consistent"),
    "xcatmn2": ("vip.absent", "services.disabled_at_boot", "clock.synchronized"),
}
BAD = {
    "observed": "xcatd: enabled\npostgresql: disabled",
    "expected": "disabled or masked at boot: postgresql, xcatd",
    "fix": "systemctl disable xcatd\nsystemctl mask xcatd",
}
T0 = datetime(2026, 11, 25, 7, 0, 0, tzinfo=UTC).astimezone()


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass
class Fault:
    node: str
    check_id: str
    outcome: str = "failed"


def write_summary(run_dir: Path, node: str, started_at: str, faults: tuple[Fault, ...] = (),
                  skipped: tuple[str, ...] = ()) -> Path:
    """The node's JSON summary (and an HTML and JUnit sibling) as ``runner.py`` names them, per report-schema.md."""
    role = ROLES[node]
    base = run_dir / f"{run_dir.name}-{CLUSTER}-{node}-drift-{role}"
    results = []
    for i, check_id in enumerate(CHECKS[node]):
        fault = next((f for f in faults if f.node == node and f.check_id == check_id), None)
        when = f"{started_at[:19]}.{i:03d}{started_at[19:]}"
        if fault and fault.outcome == "failed":
            results.append(CheckResult(check_id, node, "drift", "failed", duration_s=0.1, started_at=when, **BAD))
        elif fault:
            results.append(CheckResult(check_id, node, "drift", "error", duration_s=3.0, started_at=when,
                                       message=f"RuntimeError: ssh: connect to host {node} port 22: refused"))
        elif check_id in skipped:
            results.append(CheckResult(check_id, node, "drift", "skipped", message="not applicable", started_at=when))
        else:
            results.append(CheckResult(check_id, node, "drift", "passed", duration_s=0.05, started_at=when))
    summary = RunSummary(
        tool_version="0.1.0", cluster=CLUSTER, node=node, phase="drift", started_at=started_at,
        inventory="/etc/xcatha/inventory.yml", environment={"hosts": f"ssh://root@{node}"},
        finished_at=started_at, results=results,
    )
    summary.write_json(f"{base}.json")
    Path(f"{base}.html").write_text(f"<!DOCTYPE html><title>{node}</title><p>report of {node}</p>\n")
    Path(f"{base}.xml").write_text("<testsuites/>\n")
    return Path(f"{base}.json")


def drift(root: Path, run_id: str, moment: datetime, *faults: Fault, unreachable: tuple[str, ...] = (),
          keep_days: int = 30, now: datetime | None = None, skipped: tuple[str, ...] = ()) -> DriftRun:
    """One drift run of both nodes recorded under `root`."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    outcomes = []
    for node, role in ROLES.items():
        if node in unreachable:
            why = f"ssh: connect to host {node} port 22: No route to host"
            outcomes.append(NodeOutcome.unreachable(node, role, why))
            continue
        path = write_summary(run_dir, node, stamp(moment), faults, skipped)
        outcome = NodeOutcome.read(node, role, path)
        assert outcome.status == (1 if any(f.node == node for f in faults) else 0)
        outcomes.append(outcome)
    return record_run(root, run_dir, CLUSTER, stamp(moment), outcomes, keep_days=keep_days, now=now)


class _Text(HTMLParser):
    """The page's body text (not its title, style or script) and every href/src."""

    HIDDEN = ("head", "title", "style", "script")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hrefs: list[str] = []
        self.hidden = 0

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        self.hrefs += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN


def page(root: Path) -> SimpleNamespace:
    parser = _Text()
    html = (root / INDEX_NAME).read_text(encoding="utf-8")
    parser.feed(html)
    parser.close()
    text = re.sub(r"\s+", " ", "".join(parser.parts)).strip()
    return SimpleNamespace(html=html, text=text, hrefs=parser.hrefs)


def prometheus(root: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{metric: {sorted label items: value}}`` as prometheus_client's parser reads the textfile."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families((root / PROM_NAME).read_text(encoding="utf-8")):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def assert_prometheus_matches_latest(root: Path) -> None:
    latest = json.loads((root / LATEST_NAME).read_text())
    metrics = prometheus(root)
    cluster = latest["cluster"]
    expected_checks = {
        (("check", c["check_id"]), ("cluster", cluster), ("node", c["node"])): 1.0 if c["outcome"] == "passed" else 0.0
        for c in latest["checks"].values() if c["outcome"] in ("passed", "failed", "error")
    }
    assert metrics["xcatha_check_ok"] == expected_checks
    assert metrics["xcatha_node_reachable"] == {
        (("cluster", cluster), ("node", name)): 1.0 if node["reachable"] else 0.0
        for name, node in latest["nodes"].items()
    }
    failed = latest["counts"]["failed"] + latest["counts"]["error"]
    assert metrics["xcatha_checks_failed"] == {(("cluster", cluster),): float(failed)}
    started = datetime.fromisoformat(latest["started_at"]).timestamp()
    assert metrics["xcatha_last_run_timestamp_seconds"] == {(("cluster", cluster),): started}


def keys(items: list[dict]) -> list[str]:
    return [i["key"] for i in items]


# --- the three runs: green, a check newly failing on the standby, resolved ------------------------------


@pytest.fixture
def three_runs(tmp_path):
    root = tmp_path / "reports"
    fault = Fault("xcatmn2", "services.disabled_at_boot")
    runs = [drift(root, "20261125T070000-lab", T0)]
    after_first = SimpleNamespace(page=page(root), latest=json.loads((root / LATEST_NAME).read_text()))
    runs.append(drift(root, "20261125T080000-lab", T0 + timedelta(hours=1), fault))
    after_second = SimpleNamespace(page=page(root), latest=json.loads((root / LATEST_NAME).read_text()),
                                   prom=(root / PROM_NAME).read_text())
    assert_prometheus_matches_latest(root)
    runs.append(drift(root, "20261125T090000-lab", T0 + timedelta(hours=2)))
    return SimpleNamespace(root=root, runs=runs, after_first=after_first, after_second=after_second)


def test_first_run_is_green(three_runs):
    first = three_runs.runs[0]
    assert exit_status(first) == 0
    assert first.verdict == "green"
    assert first.counts == {"passed": 6, "failed": 0, "error": 0, "blocked": 0, "skipped": 0, "unreachable_nodes": 0}
    assert first.changes == {"previous_run_id": None, "newly_failing": [], "resolved": [], "still_failing": [],
                             "not_checked": [], "blocked": []}
    assert three_runs.after_first.latest["verdict"] == "green"
    assert "GREEN" in three_runs.after_first.page.text


def test_second_run_shows_the_check_newly_failing_on_the_standby(three_runs):
    second = three_runs.runs[1]
    assert exit_status(second) == 1
    assert second.changes["previous_run_id"] == "20261125T070000-lab"
    assert keys(second.changes["newly_failing"]) == ["xcatmn2/services.disabled_at_boot"]
    item = second.changes["newly_failing"][0]
    assert item["node"] == "xcatmn2"
    assert item["check_id"] == "services.disabled_at_boot"
    assert item["observed"] == "xcatd: enabled"  # first lines only
    assert item["fix"] == "systemctl disable xcatd"
    assert item["since"] == second.started_at
    assert second.changes["resolved"] == second.changes["still_failing"] == second.changes["not_checked"] == []

    latest = three_runs.after_second.latest
    assert latest["run_id"] == "20261125T080000-lab"
    assert latest["verdict"] == "drift"
    assert latest["exit_status"] == 1
    assert latest["counts"] == {"passed": 5, "failed": 1, "error": 0, "blocked": 0, "skipped": 0,
                                "unreachable_nodes": 0}  # fmt: skip
    assert latest["checks"]["xcatmn2/services.disabled_at_boot"] == {
        "node": "xcatmn2", "check_id": "services.disabled_at_boot", "outcome": "failed",
        "observed": "xcatd: enabled", "fix": "systemctl disable xcatd", "message": "", "blocked_by": "",
    }

    text = three_runs.after_second.page.text
    assert text.startswith("DRIFT")
    assert ("newly failing: services.disabled_at_boot on xcatmn2 (xcatd: enabled; fix: systemctl disable xcatd)"
            in text)
    assert 'xcatha_check_ok{cluster="lab",node="xcatmn2",check="services.disabled_at_boot"} 0' in \
        three_runs.after_second.prom


def test_third_run_shows_it_resolved(three_runs):
    third = three_runs.runs[2]
    assert exit_status(third) == 0
    assert keys(third.changes["resolved"]) == ["xcatmn2/services.disabled_at_boot"]
    assert third.changes["resolved"][0]["outcome"] == "passed"
    assert third.changes["newly_failing"] == third.changes["still_failing"] == []
    text = page(three_runs.root).text
    assert text.startswith("GREEN")
    assert "resolved: services.disabled_at_boot on xcatmn2 (xcatd: enabled; fix: systemctl disable xcatd)" in text


def test_index_lists_the_runs_newest_first_with_counts_and_report_links(three_runs):
    index = page(three_runs.root)
    # The top box names the newest run; the runs table then lists them newest first.
    assert index.text.index(three_runs.runs[-1].run_id) < index.text.index("Runs, newest first")
    table = index.text[index.text.index("Runs, newest first"):]
    positions = [table.index(r.run_id) for r in reversed(three_runs.runs)]
    assert positions == sorted(positions)
    assert "5 passed, 1 failed, 0 error" in table
    assert table.count("6 passed, 0 failed, 0 error") == 2
    assert "xcatmn2 (standby): reachable" in table
    for run in three_runs.runs:
        for node, role in ROLES.items():
            href = f"{run.run_id}/{run.run_id}-{CLUSTER}-{node}-drift-{role}.html"
            assert href in index.hrefs
            assert (three_runs.root / href).is_file()


def test_index_is_self_contained(three_runs):
    index = page(three_runs.root)
    assert "<script" not in index.html.lower()
    assert not re.search(r"(?i)\b(?:https?:)?//", " ".join(index.hrefs))
    for href in index.hrefs:
        if not href.startswith("#"):
            assert (three_runs.root / href).exists(), href
    assert "<style>" in index.html


def test_run_records_and_latest(three_runs):
    root = three_runs.root
    records = {d.name: r for d, r in load_runs(root)}
    assert list(records) == [r.run_id for r in three_runs.runs]
    for run in three_runs.runs:
        on_disk = json.loads((root / run.run_id / RUN_NAME).read_text())
        assert on_disk == run.to_dict()
        assert on_disk["schema_version"] == "2"
    assert json.loads((root / LATEST_NAME).read_text()) == three_runs.runs[-1].to_dict()
    assert_prometheus_matches_latest(root)
    # Nothing half-written is left behind.
    assert not [p for p in root.rglob(".*.tmp")]


def test_still_failing_keeps_the_start_of_the_streak(tmp_path):
    fault = Fault("xcatmn2", "clock.synchronized", "error")
    first = drift(tmp_path, "r1", T0, fault)
    second = drift(tmp_path, "r2", T0 + timedelta(hours=1), fault)
    third = drift(tmp_path, "r3", T0 + timedelta(hours=2), fault)
    assert keys(first.changes["newly_failing"]) == ["xcatmn2/clock.synchronized"]
    for run in (second, third):
        assert keys(run.changes["still_failing"]) == ["xcatmn2/clock.synchronized"]
        assert run.changes["still_failing"][0]["since"] == first.started_at
        assert run.changes["newly_failing"] == []
    assert third.checks["xcatmn2/clock.synchronized"]["message"].startswith("RuntimeError: ssh")
    text = page(tmp_path).text
    assert f"still failing since {first.started_at.replace('T', ' ')}: clock.synchronized on xcatmn2" in text


# --- a node that cannot be reached -------------------------------------------------------------------


def test_an_unreachable_node_is_exit_3_and_shown_in_the_index(tmp_path):
    fault = Fault("xcatmn1", "vip.present")
    drift(tmp_path, "r1", T0, fault)
    run = drift(tmp_path, "r2", T0 + timedelta(hours=1), unreachable=("xcatmn1",))
    assert exit_status(run) == 3
    assert run.verdict == "unreachable"
    assert run.nodes["xcatmn1"]["reachable"] is False
    assert "No route to host" in run.nodes["xcatmn1"]["message"]
    assert run.counts["unreachable_nodes"] == 1
    assert not any(key.startswith("xcatmn1/") for key in run.checks)
    # A failure on a node that could not be checked is not resolved: it is not checked, its streak kept.
    assert run.changes["resolved"] == []
    assert keys(run.changes["not_checked"]) == ["xcatmn1/vip.present"]
    assert run.changes["not_checked"][0]["since"] == stamp(T0)

    index = page(tmp_path)
    assert index.text.startswith("NODE UNREACHABLE")
    assert "xcatmn1 (active): UNREACHABLE ssh: connect to host xcatmn1 port 22: No route to host" in index.text
    assert re.search(r'class="unreachable-node">UNREACHABLE<', index.html)
    latest = json.loads((tmp_path / LATEST_NAME).read_text())
    assert latest["exit_status"] == 3
    assert latest["nodes"]["xcatmn1"] == {"role": "active", "reachable": False, "status": 3,
                                          "message": "ssh: connect to host xcatmn1 port 22: No route to host",
                                          "reports": {}}
    assert_prometheus_matches_latest(tmp_path)
    assert prometheus(tmp_path)["xcatha_node_reachable"][(("cluster", "lab"), ("node", "xcatmn1"))] == 0.0

    # Back again and still failing: the streak goes on from the first run.
    back = drift(tmp_path, "r3", T0 + timedelta(hours=2), fault)
    assert keys(back.changes["still_failing"]) == ["xcatmn1/vip.present"]
    assert back.changes["still_failing"][0]["since"] == stamp(T0)
    assert exit_status(back) == 1


def test_unreachable_beats_drift_and_a_missing_summary_is_an_error(tmp_path):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    outcomes = [NodeOutcome.read("xcatmn1", "active", run_dir / "missing.json"),
                NodeOutcome.unreachable("xcatmn2", "standby", "")]
    run = record_run(tmp_path, run_dir, CLUSTER, stamp(T0), outcomes)
    assert run.checks[f"xcatmn1/{SUMMARY_CHECK}"]["outcome"] == "error"
    assert "missing" in run.checks[f"xcatmn1/{SUMMARY_CHECK}"]["message"]
    assert run.nodes["xcatmn2"]["message"] == "unreachable"
    assert exit_status(run) == 3
    fixed = drift(tmp_path, "r2", T0 + timedelta(hours=1))
    assert exit_status(fixed) == 0
    assert keys(fixed.changes["resolved"]) == [f"xcatmn1/{SUMMARY_CHECK}"]
    assert fixed.changes["resolved"][0]["outcome"] == "absent"


def test_from_run_result_keeps_the_runners_summary_and_json_report(tmp_path):
    run = SimpleNamespace(node=SimpleNamespace(name="xcatmn2"), role="standby")
    gone = RunSummary("0.1.0", CLUSTER, "xcatmn2", "drift", stamp(T0), "", unreachable="xcatmn2: ssh: timed out")
    outcome = NodeOutcome.from_run_result(SimpleNamespace(run=run, summary=gone, reports=[]))
    assert (outcome.summary_json, outcome.status, outcome.summary.unreachable) == (None, 3, "xcatmn2: ssh: timed out")
    failed = RunSummary("0.1.0", CLUSTER, "xcatmn2", "drift", stamp(T0), "", results=[
        CheckResult("vip.absent", "xcatmn2", "drift", "failed", observed="192.0.2.7 on eth0")])  # fmt: skip
    reports = [tmp_path / "x.html", tmp_path / "x.json"]
    outcome = NodeOutcome.from_run_result(SimpleNamespace(run=run, summary=failed, reports=reports))
    assert (outcome.summary_json, outcome.status, outcome.summary) == (tmp_path / "x.json", 1, failed)


# --- a drift run while a runbook holds the run lock (failover in progress) -------------------------------

FAILOVER = LockInfo(owner="root@xcatmn1", host="xcatmn1", pid=4242, runbook="failover",
                    run_id="20261125T075500-failover", started_at="2026-11-25T07:55:00+00:00")
FOUND_ON = ["xcatmn1", "shared storage via xcatmn1", "xcatmn2"]


def during_failover(root: Path, run_id: str, moment: datetime, unreachable: tuple[str, ...] = ()) -> DriftRun:
    """A drift run that found FAILOVER's lock: recorded without judging any check."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    nodes = {node: f"ssh: connect to host {node} port 22: No route to host" if node in unreachable else ""
             for node in ROLES}
    return record_in_progress(root, run_dir, CLUSTER, stamp(moment), FAILOVER, FOUND_ON, nodes)


def test_a_run_during_a_failover_is_in_progress_exit_0_and_judges_nothing(tmp_path):
    fault = Fault("xcatmn2", "services.disabled_at_boot")
    drift(tmp_path, "r1", T0, fault)
    run = during_failover(tmp_path, "r2", T0 + timedelta(hours=1))
    assert run.verdict == "in-progress"
    assert exit_status(run) == 0
    assert run.checks == {}
    assert run.counts == {"passed": 0, "failed": 0, "error": 0, "blocked": 0, "skipped": 0, "unreachable_nodes": 0}
    # Nothing judged, so nothing changed: no failure resolved, none still failing.
    assert run.changes == {"previous_run_id": "r1", "newly_failing": [], "resolved": [], "still_failing": [],
                           "not_checked": [], "blocked": []}
    assert run.note == ("failover in progress (run 20261125T075500-failover, failover, root@xcatmn1, "
                        "since 2026-11-25T07:55:00+00:00): not judged")

    latest = json.loads((tmp_path / LATEST_NAME).read_text())
    assert latest["verdict"] == "in-progress" and latest["exit_status"] == 0
    assert latest["run_lock"] == {"runbook": "failover", "run_id": "20261125T075500-failover",
                                  "owner": "root@xcatmn1", "host": "xcatmn1", "pid": 4242,
                                  "started_at": "2026-11-25T07:55:00+00:00", "found_on": FOUND_ON}
    assert latest["note"] == run.note
    assert latest["nodes"]["xcatmn1"] == {"role": None, "reachable": True, "status": 0, "message": "",
                                          "reports": {}}
    assert DriftRun.from_dict(latest).to_dict() == latest  # read back as written

    index = page(tmp_path)
    assert index.text.startswith("FAILOVER IN PROGRESS")
    assert re.search(r'<section class="box hero in-progress" id="latest">', index.html)
    # (the page's text runs a table's header cell into its value: "Checks" + "not judged: ...")
    assert "Checksnot judged: a runbook run holds the run lock" in index.text
    assert f"{run.note}" in index.text  # in its row of the list
    assert ("Run lockrunbook failover, run 20261125T075500-failover, by root@xcatmn1 (pid 4242 on xcatmn1), "
            "since 2026-11-25 07:55:00+00:00; found on xcatmn1, shared storage via xcatmn1, xcatmn2") in index.text
    assert "Last judgedDRIFT 2026-11-25 07:00:00+00:00 (r1)" in index.text and 'href="#run-r1"' in index.html
    assert "Failing now" not in index.text  # the failure of r1 is not claimed for a run that did not look
    assert 'class="badge v-in-progress">FAILOVER IN PROGRESS<' in index.html

    metrics = prometheus(tmp_path)
    assert "xcatha_check_ok" not in metrics and "xcatha_check_state" not in metrics
    assert metrics["xcatha_failover_in_progress"] == {(("cluster", "lab"),): 1.0}
    labels = (("cluster", "lab"), ("host", "xcatmn1"), ("owner", "root@xcatmn1"), ("run_id", FAILOVER.run_id),
              ("runbook", "failover"))
    started = datetime.fromisoformat(FAILOVER.started_at).timestamp()
    assert metrics["xcatha_failover_started_timestamp_seconds"] == {labels: started}
    assert metrics["xcatha_checks_failed"] == {(("cluster", "lab"),): 0.0}
    assert metrics["xcatha_node_reachable"] == {(("cluster", "lab"), ("node", n)): 1.0 for n in ROLES}
    started_run = (T0 + timedelta(hours=1)).timestamp()
    assert metrics["xcatha_last_run_timestamp_seconds"] == {(("cluster", "lab"),): started_run}


def test_the_run_after_a_failover_compares_with_the_last_judged_run(tmp_path):
    fault = Fault("xcatmn2", "services.disabled_at_boot")
    drift(tmp_path, "r1", T0, fault)
    during_failover(tmp_path, "r2", T0 + timedelta(hours=1))
    during_failover(tmp_path, "r3", T0 + timedelta(hours=2))
    still = drift(tmp_path, "r4", T0 + timedelta(hours=3), fault)
    assert still.changes["previous_run_id"] == "r1"
    assert keys(still.changes["still_failing"]) == ["xcatmn2/services.disabled_at_boot"]
    assert still.changes["still_failing"][0]["since"] == stamp(T0)  # the streak crosses the failover
    assert still.changes["newly_failing"] == []
    assert json.loads((tmp_path / LATEST_NAME).read_text())["run_lock"] is None
    assert prometheus(tmp_path)["xcatha_failover_in_progress"] == {(("cluster", "lab"),): 0.0}
    assert "xcatha_failover_started_timestamp_seconds" not in prometheus(tmp_path)
    assert_prometheus_matches_latest(tmp_path)
    index = page(tmp_path)
    assert index.text.startswith("DRIFT")
    assert "still failing since 2026-11-25" in index.text

    during_failover(tmp_path, "r5", T0 + timedelta(hours=4))
    resolved = drift(tmp_path, "r6", T0 + timedelta(hours=5))
    assert resolved.changes["previous_run_id"] == "r4"
    assert keys(resolved.changes["resolved"]) == ["xcatmn2/services.disabled_at_boot"]
    assert resolved.verdict == "green"


def test_a_failure_right_after_a_failover_is_newly_failing(tmp_path):
    drift(tmp_path, "r1", T0)
    during_failover(tmp_path, "r2", T0 + timedelta(hours=1))
    run = drift(tmp_path, "r3", T0 + timedelta(hours=2), Fault("xcatmn1", "vip.present"))
    assert run.changes["previous_run_id"] == "r1"
    assert keys(run.changes["newly_failing"]) == ["xcatmn1/vip.present"]
    assert run.changes["newly_failing"][0]["since"] == stamp(T0 + timedelta(hours=2))


def test_a_failover_run_recorded_late_leaves_the_later_comparison_alone(tmp_path):
    fault = Fault("xcatmn2", "vip.absent")
    drift(tmp_path, "r1", T0, fault)
    later = drift(tmp_path, "r3", T0 + timedelta(hours=2), fault)
    before = json.loads((tmp_path / "r3" / RUN_NAME).read_text())
    during_failover(tmp_path, "r2", T0 + timedelta(hours=1))  # started before r3, recorded after it
    after = json.loads((tmp_path / "r3" / RUN_NAME).read_text())
    assert after["changes"] == before["changes"] == later.changes
    assert after["changes"]["previous_run_id"] == "r1"
    assert json.loads((tmp_path / LATEST_NAME).read_text())["run_id"] == "r3"  # the newest by start


def test_an_unreachable_node_during_a_failover_is_shown_and_still_exit_0(tmp_path):
    run = during_failover(tmp_path, "r1", T0, unreachable=("xcatmn1",))
    assert run.verdict == "in-progress" and exit_status(run) == 0
    assert run.counts["unreachable_nodes"] == 1
    assert run.nodes["xcatmn1"]["reachable"] is False and run.nodes["xcatmn1"]["status"] == 3
    index = page(tmp_path)
    assert index.text.startswith("FAILOVER IN PROGRESS")
    assert "xcatmn1: UNREACHABLE ssh: connect to host xcatmn1 port 22: No route to host" in index.text
    assert "Last judgedno judged run yet" in index.text
    metrics = prometheus(tmp_path)
    assert metrics["xcatha_node_reachable"][(("cluster", "lab"), ("node", "xcatmn1"))] == 0.0
    assert metrics["xcatha_failover_in_progress"] == {(("cluster", "lab"),): 1.0}


def test_a_judged_run_keeps_its_note_about_a_stale_lock(tmp_path):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    note = "stale run lock passed over: run 20261125T010000-failover, failover, root@xcatmn1, at xcatmn1 (dead)"
    outcomes = [NodeOutcome.read(n, ROLES[n], write_summary(run_dir, n, stamp(T0))) for n in ROLES]
    run = record_run(tmp_path, run_dir, CLUSTER, stamp(T0), outcomes, note=note)
    assert run.verdict == "green" and exit_status(run) == 0
    latest = json.loads((tmp_path / LATEST_NAME).read_text())
    assert latest["note"] == note and latest["run_lock"] is None
    index = page(tmp_path)
    assert index.text.startswith("GREEN")
    assert f"Note{note}" in index.text


def test_a_version_2_record_without_lock_fields_reads_as_judged(tmp_path):
    drift(tmp_path, "r1", T0)
    record = json.loads((tmp_path / "r1" / RUN_NAME).read_text())
    del record["run_lock"], record["note"]
    (tmp_path / "r1" / RUN_NAME).write_text(json.dumps(record))
    [(_, old)] = load_runs(tmp_path)
    assert old.judged and old.verdict == "green" and old.note == ""
    run = drift(tmp_path, "r2", T0 + timedelta(hours=1), Fault("xcatmn1", "vip.present"))
    assert run.changes["previous_run_id"] == "r1"


# --- escaping ----------------------------------------------------------------------------------------


def test_labels_and_html_are_escaped(tmp_path):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    nasty_id = 'weird."check"\\id'
    summary = RunSummary("0.1.0", 'lab "north"', "xcatmn2", "drift", stamp(T0), "", results=[
        CheckResult(nasty_id, "xcatmn2", "drift", "failed", observed="<script>alert(1)</script> in /etc/hosts",
                    fix="echo '<b>' > /tmp/x"),
    ])
    summary.write_json(run_dir / "s.json")
    record_run(tmp_path, run_dir, 'lab "north"\nsouth', stamp(T0),
               [NodeOutcome.read("xcatmn2", "standby", run_dir / "s.json")])
    metrics = prometheus(tmp_path)
    assert metrics["xcatha_check_ok"] == {
        (("check", nasty_id), ("cluster", 'lab "north"\nsouth'), ("node", "xcatmn2")): 0.0,
    }
    assert_prometheus_matches_latest(tmp_path)
    index = page(tmp_path)
    assert "<script>alert" not in index.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in /etc/hosts" in index.html
    assert "<script>alert(1)</script> in /etc/hosts" in index.text


def test_skipped_checks_are_counted_but_not_exported(tmp_path):
    run = drift(tmp_path, "r1", T0, skipped=("clock.synchronized",))
    assert run.counts["skipped"] == 1
    assert exit_status(run) == 0
    assert (("check", "clock.synchronized"), ("cluster", "lab"), ("node", "xcatmn2")) not in \
        prometheus(tmp_path)["xcatha_check_ok"]
    assert_prometheus_matches_latest(tmp_path)


# --- retention ---------------------------------------------------------------------------------------


def test_retention_removes_old_runs_and_keeps_the_newest(tmp_path):
    now = T0 + timedelta(days=60)
    for days_ago in (45, 31, 29, 1):
        drift(tmp_path, f"d{days_ago:02d}", now - timedelta(days=days_ago), keep_days=365, now=now)
    assert sorted(d.name for d, _ in load_runs(tmp_path)) == ["d01", "d29", "d31", "d45"]
    unrelated = tmp_path / "not-a-run"
    unrelated.mkdir()

    removed = apply_retention(tmp_path, 30, now=now)
    assert sorted(p.name for p in removed) == ["d31", "d45"]
    assert sorted(d.name for d, _ in load_runs(tmp_path)) == ["d01", "d29"]
    assert unrelated.is_dir()

    # Everything old: the newest run stays all the same.
    removed = apply_retention(tmp_path, 0, now=now + timedelta(days=400))
    assert [p.name for p in removed] == ["d29"]
    assert [d.name for d, _ in load_runs(tmp_path)] == ["d01"]
    assert (tmp_path / "d01" / RUN_NAME).is_file()
    with pytest.raises(UsageError):
        apply_retention(tmp_path, -1)


def test_record_run_applies_retention_before_the_index(tmp_path):
    now = T0 + timedelta(days=60)
    drift(tmp_path, "old", now - timedelta(days=40), Fault("xcatmn2", "vip.absent"), keep_days=365, now=now)
    drift(tmp_path, "recent", now - timedelta(days=2), Fault("xcatmn2", "vip.absent"), keep_days=365, now=now)
    run = drift(tmp_path, "new", now, Fault("xcatmn2", "vip.absent"), now=now)
    assert not (tmp_path / "old").exists()
    index = page(tmp_path)
    assert "recent" in index.text
    assert "old" not in [d.name for d, _ in load_runs(tmp_path)]
    assert " old" not in index.text.replace("(", " ")
    # The streak began in the removed run and is still known.
    assert run.changes["still_failing"][0]["since"] == stamp(now - timedelta(days=40))


# --- runs recorded out of order, and at once ---------------------------------------------------------


def test_a_run_recorded_late_is_slotted_in_and_the_later_one_recomputed(tmp_path):
    fault = Fault("xcatmn2", "vip.absent")
    drift(tmp_path, "a", T0)
    drift(tmp_path, "c", T0 + timedelta(minutes=2), fault)  # started after b, recorded before it
    b = drift(tmp_path, "b", T0 + timedelta(minutes=1), fault)
    assert b.changes["previous_run_id"] == "a"
    assert keys(b.changes["newly_failing"]) == ["xcatmn2/vip.absent"]
    c = {d.name: r for d, r in load_runs(tmp_path)}["c"]
    assert c.changes["previous_run_id"] == "b"
    assert keys(c.changes["still_failing"]) == ["xcatmn2/vip.absent"]
    assert c.changes["still_failing"][0]["since"] == b.started_at
    assert json.loads((tmp_path / LATEST_NAME).read_text())["run_id"] == "c"


def test_the_run_directory_must_be_under_the_report_root(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "r1"
    elsewhere.mkdir(parents=True)
    with pytest.raises(UsageError, match="directly under"):
        record_run(tmp_path / "reports", elsewhere, CLUSTER, stamp(T0), [NodeOutcome.unreachable("x", None, "")])


def _record_concurrently(root, index, start):
    moment = T0 + timedelta(minutes=index)
    faults = (Fault("xcatmn2", "vip.absent"),) if index % 2 else ()
    start.wait(timeout=30)
    drift(Path(root), f"run{index:02d}", moment, *faults)


def _check_concurrent_history(root: Path, count: int) -> None:
    index = page(root)
    assert index.html.rstrip().endswith("</html>")
    latest = json.loads((root / LATEST_NAME).read_text())
    assert latest["run_id"] == f"run{count - 1:02d}"
    runs = load_runs(root)
    assert [d.name for d, _ in runs] == [f"run{i:02d}" for i in range(count)]
    table = index.text[index.text.index("Runs, newest first"):]
    positions = [table.index(f"run{i:02d}") for i in reversed(range(count))]
    assert positions == sorted(positions)
    # Whatever order they were recorded in, each run's changes are against the run that started before it.
    for i, (_, run) in enumerate(runs):
        assert run.changes["previous_run_id"] == (f"run{i - 1:02d}" if i else None)
        expected = ("newly_failing" if i % 2 else "resolved") if i else None
        if expected:
            assert keys(run.changes[expected]) == ["xcatmn2/vip.absent"], (i, run.changes)
    assert_prometheus_matches_latest(root)
    assert not list(root.rglob(".*.tmp"))


def test_eight_processes_recording_at_once(tmp_path):
    count = 8
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(count)
    procs = [context.Process(target=_record_concurrently, args=(str(tmp_path), i, start)) for i in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * count
    _check_concurrent_history(tmp_path, count)


def test_eight_threads_recording_at_once(tmp_path):
    count = 8
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            _record_concurrently(str(tmp_path), i, start)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    _check_concurrent_history(tmp_path, count)


# --- the schema document ------------------------------------------------------------------------------

SCHEMA_DOC = Path(__file__).resolve().parents[1] / "docs" / "drift-schema.md"


def documented_fields(heading: str) -> set[str]:
    """Field names in the first column of the table under `heading` of docs/drift-schema.md."""
    body = SCHEMA_DOC.read_text().split(f"\n{heading}\n", 1)[1]
    body = re.split(r"\n#{2,3} ", body, maxsplit=1)[0]
    names: set[str] = set()
    for cell in re.findall(r"^\| (`[^|]+`) \|", body, re.MULTILINE):
        names |= set(re.findall(r"`(\w+)`", cell))
    return names


def test_records_have_exactly_the_documented_fields(tmp_path):
    drift(tmp_path, "r1", T0, Fault("xcatmn1", "vip.present"))
    run = drift(tmp_path, "r2", T0 + timedelta(hours=1), Fault("xcatmn2", "vip.absent"), unreachable=("xcatmn1",))
    record = json.loads((tmp_path / "r2" / RUN_NAME).read_text())
    assert set(record) == documented_fields("## Run record (`RUN_ID/run.json`, `latest.json`)")
    assert set(record["nodes"]["xcatmn1"]) == documented_fields("### Node")
    assert set(record["checks"]["xcatmn2/vip.absent"]) == documented_fields("### Check")
    assert set(record["changes"]) == documented_fields("### Changes")
    items = [i for name in ("newly_failing", "not_checked") for i in record["changes"][name]]
    assert len(items) == 2
    for item in items:
        assert set(item) == documented_fields("### Change item")
    assert run.to_dict() == record


def test_documented_prometheus_examples_parse_with_the_documented_metrics():
    text = SCHEMA_DOC.read_text().split("## Prometheus textfile", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"```\n(# HELP.*?)```", text, re.DOTALL)
    assert len(examples) == 2  # a judged run, and a run during a failover
    names = [{family.name for family in text_string_to_metric_families(example)} for example in examples]
    assert names[0] == {"xcatha_check_ok", "xcatha_check_state", "xcatha_node_reachable",
                        "xcatha_last_run_timestamp_seconds", "xcatha_checks_failed", "xcatha_checks_blocked",
                        "xcatha_failover_in_progress"}
    assert "xcatha_failover_started_timestamp_seconds" in names[1] and "xcatha_check_ok" not in names[1]
    assert names[0] | names[1] == documented_fields("## Prometheus textfile (`xcatha.prom`)")


def test_the_files_have_the_documented_metrics_judged_and_during_a_failover(tmp_path):
    documented = documented_fields("## Prometheus textfile (`xcatha.prom`)")
    drift(tmp_path, "r1", T0, Fault("xcatmn1", "vip.present"))
    judged = set(prometheus(tmp_path))
    during_failover(tmp_path, "r2", T0 + timedelta(hours=1))
    in_progress = set(prometheus(tmp_path))
    assert judged | in_progress == documented
    assert in_progress == documented - {"xcatha_check_ok", "xcatha_check_state"}


def test_a_run_during_a_failover_has_exactly_the_documented_fields(tmp_path):
    during_failover(tmp_path, "r1", T0, unreachable=("xcatmn2",))
    record = json.loads((tmp_path / "r1" / RUN_NAME).read_text())
    assert set(record) == documented_fields("## Run record (`RUN_ID/run.json`, `latest.json`)")
    assert set(record["run_lock"]) == documented_fields("### Run lock")
    for node in record["nodes"].values():
        assert set(node) == documented_fields("### Node")
    assert set(record["changes"]) == documented_fields("### Changes")
