"""One cause, one red: a check that cannot judge because what it needs is broken is reported blocked.

A child pytest runs tiny checks with the real plugins (as ``test_report.py`` does): a failing base
check declared after the checks that need it, a chain of two, a check whose need passed, one whose
need is not in the run, and one blocked by an unreachable peer. Then the drift records: a failing
check that is blocked next time is not resolved, and the Prometheus file keeps every series.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from xcatha_verify.drift.changes import diff_runs
from xcatha_verify.drift.prometheus import render_prometheus
from xcatha_verify.drift.records import DriftRun, exit_status
from xcatha_verify.errors import EXIT_FAILED, EXIT_UNREACHABLE
from xcatha_verify.report import CheckResult, RunSummary

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "tests" / "inventories" / "minimal.yml"

CHECKS = textwrap.dedent('''
    from xcatha_verify.checkkit import blocked, check, note, verdict


    @check("demo.reads_base", phases=("active",), needs=("demo.base",))
    def check_reads_base(host):
        raise AssertionError("ran although demo.base failed")


    @check("demo.chain", phases=("active",), needs=("demo.reads_base",))
    def check_chain(host):
        raise AssertionError("ran although what it needs was blocked")


    @check("demo.needs_ok", phases=("active",), needs=("demo.ok",))
    def check_needs_ok(host):
        verdict(True, observed="", expected="", fix="")


    @check("demo.needs_absent", phases=("active",), needs=("demo.standby_only",))
    def check_needs_absent(host):
        verdict(False, observed="judged on its own", expected="", fix="")


    @check("demo.peer", phases=("active",))
    def check_peer(host):
        blocked(by="xcatmn2 unreachable", why="xcatmn2 (ssh://root@xcatmn2) cannot be reached: timed out")


    @check("demo.ok", phases=("active",))
    def check_ok(host):
        note("cluster state 'shut down'")
        verdict(True, observed="", expected="", fix="")


    @check("demo.base", phases=("active",))
    def check_base(host):
        note("what a failure's own observed value replaces")
        verdict(False, observed="/etc/xcat is not a mount point", expected="mounted", fix="mount /etc/xcat")


    @check("demo.standby_only", phases=("standby",))
    def check_standby_only(host):
        verdict(False, observed="", expected="", fix="")
''')


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("blocked")
    (tmp / "demo.py").write_text(CHECKS)
    out = tmp / "out"
    argv = [
        sys.executable, "-m", "pytest", str(tmp / "demo.py"), "-o", "python_functions=check_*",
        "--rootdir", str(tmp), "-c", "/dev/null", "-p", "no:cacheprovider",
        "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder",
        "--hosts=local://", "--xcatha-node=xcatmn1", "--xcatha-phase=active", f"--xcatha-inventory={INVENTORY}",
        f"--xcatha-json={out}/run.json", f"--junitxml={out}/run.xml", "--xcatha-console", "-qq", "--no-header",
        "--no-summary", "--color=no", "-p", "no:warnings",
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return SimpleNamespace(proc=proc, summary=RunSummary.load(out / "run.json"), xml=out / "run.xml")


def test_a_check_whose_need_failed_is_blocked_by_it_and_runs_after_it(run: SimpleNamespace) -> None:
    results = {r.check_id: r for r in run.summary.results}
    order = [r.check_id for r in run.summary.results]
    assert order.index("demo.base") < order.index("demo.reads_base") < order.index("demo.chain")
    reads = results["demo.reads_base"]
    assert (reads.outcome, reads.blocked_by) == ("blocked", "demo.base")
    assert reads.message == "cannot judge until demo.base passes"
    # A chain names the first cause, not the link before it.
    assert (results["demo.chain"].outcome, results["demo.chain"].blocked_by) == ("blocked", "demo.base")
    # A need that passed, or is not part of this run, leaves the check to judge for itself.
    assert results["demo.needs_ok"].outcome == "passed"
    assert results["demo.needs_absent"].outcome == "failed"
    # What a passing check noted is its observed value; a failure's is its own, and notes end with their check.
    assert results["demo.ok"].observed == "cluster state 'shut down'"
    assert results["demo.base"].observed == "/etc/xcat is not a mount point"
    assert results["demo.needs_ok"].observed == ""
    peer = results["demo.peer"]
    assert (peer.outcome, peer.blocked_by) == ("blocked", "xcatmn2 unreachable")
    assert run.summary.counts == {"passed": 2, "failed": 2, "error": 0, "blocked": 3, "skipped": 0}
    assert not run.summary.ready
    assert run.summary.verdict == "NOT READY: 2 of 7 checks failed; 3 blocked by demo.base, xcatmn2 unreachable"
    assert [r.check_id for r in run.summary.not_ready] == [
        "demo.base", "demo.needs_absent", "demo.reads_base", "demo.chain", "demo.peer"]  # fmt: skip


def test_console_says_blocked_and_by_what(run: SimpleNamespace) -> None:
    lines = run.proc.stdout.splitlines()
    reads = next(line for line in lines if " demo.reads_base " in line)
    assert reads.startswith("BLOCK ") and reads.endswith("blocked by demo.base: cannot judge until demo.base passes")
    assert "xcatmn1 active: 2 passed, 2 failed, 0 errors, 3 blocked" in lines


def test_junit_writes_blocked_as_its_own_kind_of_skip(run: SimpleNamespace) -> None:
    cases = {str(c.get("name")).split("[")[0]: c for c in ET.parse(run.xml).getroot().iter("testcase")}
    skipped = cases["check_reads_base"].find("skipped")
    assert skipped is not None and skipped.get("type") == "blocked"
    assert skipped.get("message") == "blocked by demo.base: cannot judge until demo.base passes"
    properties = {p.get("name"): p.get("value") for p in cases["check_peer"].iter("property")}
    assert properties["blocked_by"] == "xcatmn2 unreachable"
    assert cases["check_base"].find("failure") is not None  # a real failure stays a failure
    assert cases["check_needs_ok"].find("skipped") is None


def _summary(*results: CheckResult, unreachable: str = "") -> RunSummary:
    return RunSummary("0.1.0", "lab", "xcatmn1", "drift", "2026-12-01T03:00:00+00:00", "", results=list(results),
                      unreachable=unreachable)  # fmt: skip


def test_exit_status_follows_the_cause() -> None:
    ok = CheckResult("vip.present", "xcatmn1", "drift", "passed")
    by_peer = CheckResult("pair.hosts_in_sync", "xcatmn1", "drift", "blocked", blocked_by="xcatmn2 unreachable")
    failed = CheckResult("shared.connected", "xcatmn1", "drift", "failed")
    by_check = CheckResult("pg.hba", "xcatmn1", "drift", "blocked", blocked_by="shared.connected")
    assert _summary(ok).exit_status == 0
    assert _summary(ok, by_peer).exit_status == EXIT_UNREACHABLE  # nothing failed: the peer is the cause
    assert _summary(ok, failed, by_check).exit_status == EXIT_FAILED
    assert _summary(unreachable="timed out").exit_status == EXIT_UNREACHABLE


def _drift_run(run_id: str, started_at: str, outcome: str, *, unreachable: bool = False) -> DriftRun:
    check = {"node": "xcatmn1", "check_id": "pg.hba", "outcome": outcome, "observed": "", "fix": "", "message": "",
             "blocked_by": "shared.connected" if outcome == "blocked" else ""}  # fmt: skip
    nodes = {"xcatmn1": {"role": "active", "reachable": True}, "xcatmn2": {"role": "standby",
                                                                          "reachable": not unreachable}}
    return DriftRun(run_id, started_at, "lab", nodes, {"xcatmn1/pg.hba": check}, {})


def test_a_failure_then_blocked_is_not_resolved_and_keeps_its_streak() -> None:
    first = _drift_run("r1", "2026-12-01T01:00:00+00:00", "failed")
    first.changes = diff_runs(None, first)
    second = _drift_run("r2", "2026-12-01T02:00:00+00:00", "blocked")
    second.changes = diff_runs(first, second)
    assert second.changes["resolved"] == [] and second.changes["still_failing"] == []
    assert [(i["key"], i["blocked_by"], i["since"]) for i in second.changes["blocked"]] == [
        ("xcatmn1/pg.hba", "shared.connected", first.started_at)]  # fmt: skip
    assert second.verdict == "drift" and exit_status(second) == EXIT_FAILED
    third = _drift_run("r3", "2026-12-01T03:00:00+00:00", "failed")
    third.changes = diff_runs(second, third)
    assert [(i["key"], i["since"]) for i in third.changes["still_failing"]] == [("xcatmn1/pg.hba", first.started_at)]


def test_prometheus_keeps_an_unreachable_nodes_checks_with_their_state() -> None:
    run = _drift_run("r1", "2026-12-01T01:00:00+00:00", "blocked", unreachable=True)
    text = render_prometheus(run)
    assert 'xcatha_check_state{cluster="lab",node="xcatmn1",check="pg.hba",state="blocked"} 1' in text
    assert 'xcatha_check_state{cluster="lab",node="xcatmn1",check="pg.hba",state="failed"} 0' in text
    # The standby's checks, from the catalogue, stay with state="unreachable".
    for check_id in ("vip.absent", "services.stopped", "shared.disconnected"):
        assert f'node="xcatmn2",check="{check_id}",state="unreachable"}} 1' in text
    assert 'xcatha_checks_blocked{cluster="lab"} 1' in text
    assert not [line for line in text.splitlines() if line.startswith("xcatha_check_ok{")]  # blocked: no verdict
    assert json.loads(json.dumps(run.to_dict()))["counts"] == {}  # built by hand here: no counts
