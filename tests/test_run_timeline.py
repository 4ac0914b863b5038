"""The run page's timeline: the outage window from the journal's step times, each kind of run, escaping, a browser.

The window's expected bounds are computed here from the journal's own fields (:func:`journal_window`),
not with the code under test, and the lab tests reuse :func:`assert_page_window_matches_journal` on
the pages of real failovers.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.run_page import (
    TOLERANCE_S,
    assert_page_window_matches_journal,
    journal_window,
    page_window,
)
from tests.test_drift_browser import CHROMIUM, load, page_text
from xcatha_verify.inventory import load_inventory
from xcatha_verify.runbook_engine import executor as executor_mod
from xcatha_verify.runbook_engine import loading
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.journal_records import GateRecord
from xcatha_verify.runbook_engine.model import Gate
from xcatha_verify.runbook_engine.report import render_run_report, write_run_report
from xcatha_verify.runbook_engine.timeline import build, svg

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 25, 7, 6, 38, 125000).astimezone()
MS_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
HOSTILE = "<script>alert('x')</script>\"><svg onload=alert(1)>&amp;"


def at(offset_s: float) -> str:
    return (T0 + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds")


# --- synthetic journals ---------------------------------------------------------------------------------


def step(phase: str, name: str, node: str, start_s: float, duration_s: float | None, status: str = "ok",
         index: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"phase": phase, "index": index, "name": name, "node": node, "command": name, "status": status,
            "exit_status": 0 if status == "ok" else None, "started_at": at(start_s), "duration_s": duration_s,
            "output_tail": "", "attempts": 1, "note": ""}  # fmt: skip


def gate(phase: str, when: str, node: str, start_s: float, duration_s: float, status: str = "passed") -> dict:
    return {"phase": phase, "when": when, "node": node, "checks": [f"post-{phase}"], "status": status,
            "report_paths": [], "failing": [], "started_at": at(start_s), "duration_s": duration_s,
            "unreachable": ""}  # fmt: skip


def journal(steps: list[dict], gates: list[dict] = (), status: str = "succeeded",  # type: ignore[assignment]
            end_s: float | None = 40.0, runbook: str = "failover") -> dict[str, Any]:  # fmt: skip
    phases = list(dict.fromkeys(s["phase"] for s in [*steps, *gates]))
    return {"schema_version": "1", "run_id": "20261125T070638-" + runbook, "runbook": runbook, "args": {},
            "cluster": "prod", "inventory": "inv.yml", "started_at": at(0), "status": status,
            "finished_at": None if end_s is None else at(end_s), "failed_phase": None, "message": "",
            "phases": phases, "host": "elsewhere", "pid": 0, "pair_now": None, "steps": steps,
            "gates": list(gates)}  # fmt: skip


def deactivation(node: str = "xcatmn1", unit: str = "xcatd") -> list[dict]:
    return [
        step("disable at boot", f"disable {unit}", node, 1.0, 0.4),
        step("stop services", "stop goconserver", node, 9.0, 1.1),
        step("stop services", f"stop {unit}", node, 10.25, 1.3, index=2),
        step("stop services", "stop postgresql", node, 11.6, 0.9, index=3),
    ]


def activation(node: str = "xcatmn2", unit: str = "xcatd", status: str = "ok") -> list[dict]:
    return [
        step("VIP", "VIP 192.0.2.7/24 up on eth0:0", node, 14.0, 0.3),
        step("database", "start postgresql", node, 17.5, 3.9),
        step("xcatd", f"start {unit}", node, 22.1, 2.38, status=status),
        step("services", "start named", node, 26.0, 0.4),
    ]


def planned() -> dict[str, Any]:
    gates = [gate("stop services", "after", "xcatmn1", 12.6, 1.1), gate("xcatd", "after", "xcatmn2", 24.5, 0.8)]
    return journal(deactivation() + activation(), gates)


# --- the window -------------------------------------------------------------------------------------------


def test_a_planned_failover_window_runs_from_stop_xcatd_to_the_end_of_start_xcatd() -> None:
    tl = build(planned())
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((10.25, 24.48))
    assert tl.outage.sentence == "xCAT outage: 14.2 s, from stop xcatd on xcatmn1 to start xcatd on xcatmn2."
    assert not tl.outage.began_before and not tl.outage.not_ended
    assert tl.nodes == ("xcatmn1", "xcatmn2")
    assert [(p.node, p.name) for p in tl.phases][:2] == [("xcatmn1", "disable at boot"), ("xcatmn1", "stop services")]
    # The band covers its steps and its gate after: 9.0 s to the gate's end at 13.7 s.
    assert (tl.phases[1].start_s, tl.phases[1].end_s) == pytest.approx((9.0, 13.7))


def test_a_deactivation_alone_is_an_outage_to_the_runs_end_and_on_after_it() -> None:
    tl = build(journal(deactivation(), runbook="deactivate", end_s=18.0))
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((10.25, 18.0))
    assert tl.outage.not_ended
    assert tl.outage.sentence == ("xCAT outage: not ended; 7.8 s, from stop xcatd on xcatmn1 to the run's end, and "
                                  "on after it (xcatd was not started again).")


def test_a_killed_run_is_not_ended_up_to_the_journals_last_record() -> None:
    steps = deactivation() + activation()[:2] + [step("xcatd", "start xcatd", "xcatmn2", 22.31, None, "running")]
    tl = build(journal(steps, status="running", end_s=None))
    assert not tl.ended and tl.end_s == pytest.approx(22.31)  # the running step's start is the last record
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((10.25, 22.31))
    assert tl.outage.sentence == ("xCAT outage: not ended; 12.1 s, from stop xcatd on xcatmn1 to the journal's last "
                                  "record (the run has not ended; start xcatd on xcatmn2 was still running at the "
                                  "last record).")
    assert next(s for s in tl.steps if s.status == "running").unfinished


def test_a_failed_start_of_xcatd_does_not_end_the_outage() -> None:
    tl = build(journal(deactivation() + activation(status="failed")[:3], status="failed", end_s=30.0))
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((10.25, 30.0))
    assert tl.outage.sentence.endswith("to the run's end, and on after it (start xcatd on xcatmn2 failed).")


def test_an_unplanned_failover_began_before_the_run() -> None:
    tl = build(journal(activation(), runbook="failover-unplanned"))
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((0.0, 24.48))
    assert tl.outage.began_before and not tl.outage.not_ended
    assert tl.outage.sentence == ("xCAT outage: 24.5 s inside this run, from its start to start xcatd on xcatmn2 "
                                  "(it began before the run: no stop xcatd in it).")


def test_a_dry_run_has_no_outage_and_no_window() -> None:
    steps = [s | {"status": "dry-run", "duration_s": 0.0, "started_at": at(0.5)} for s in deactivation()]
    tl = build(journal(steps, status="dry-run", end_s=2.0))
    assert tl.outage.start_s is None and "dry run" in tl.outage.sentence
    assert 'id="outage-window"' not in svg(tl)


def test_a_run_that_neither_stopped_nor_started_xcatd_says_so() -> None:
    tl = build(journal([step("VIP", "VIP up", "xcatmn2", 1.0, 0.2, "failed")], status="failed", end_s=3.0))
    assert tl.outage.start_s is None
    assert tl.outage.sentence == "No xCAT outage window: this run neither stopped nor started xcatd."
    refused = build(journal([], status="refused", end_s=0.2))
    assert refused.outage.start_s is None and refused.steps == ()


def test_a_skipped_stop_is_not_the_start_of_the_outage() -> None:
    steps = deactivation()
    steps[2]["status"] = "skipped"
    tl = build(journal(steps + activation()))
    assert tl.outage.began_before and tl.outage.start_s == 0.0


def test_the_xcatd_unit_is_the_one_the_activation_started() -> None:
    tl = build(journal(deactivation(unit="xcat-server") + activation(unit="xcat-server")))
    assert (tl.outage.start_s, tl.outage.end_s) == pytest.approx((10.25, 24.48))
    assert "from stop xcat-server on xcatmn1 to start xcat-server on xcatmn2" in tl.outage.sentence


def test_a_gate_stamped_at_its_end_by_older_journals_is_moved_back() -> None:
    old = gate("xcatd", "after", "xcatmn2", 0, 0.8) | {"started_at": (T0 + timedelta(seconds=25)).strftime(
        "%Y-%m-%dT%H:%M:%S%z")}  # what the executor wrote before milliseconds: the gate's end, "+0100"
    tl = build(journal(activation(), [old]))
    # Stamped 07:07:03 (T0 is 07:06:38.125): 24.875 s in, the gate's end; it began 0.8 s before.
    assert (tl.gates[0].start_s, tl.gates[0].end_s) == pytest.approx((24.075, 24.875))


# --- the picture ------------------------------------------------------------------------------------------


def test_the_svg_has_a_lane_per_node_bars_marks_ticks_and_the_window() -> None:
    image = str(svg(build(planned())))
    root = ET.fromstring(image)  # well-formed XML as well as HTML
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.get("role") == "img" and root.get("aria-labelledby") == "timeline-title timeline-desc"
    desc = root.find("s:desc", ns).text
    assert "8 steps (8 ok)" in desc and "xCAT outage: 14.2 s, from stop xcatd on xcatmn1" in desc
    assert len(root.findall("s:g[@class='lane']", ns)) == 2
    assert len(root.findall("s:g[@class='step s-ok']", ns)) == 8
    assert len(root.findall("s:g[@class='gate s-passed']", ns)) == 2
    window = root.find("s:g[@id='outage-window']", ns)
    assert (window.get("data-start-s"), window.get("data-end-s")) == ("10.250", "24.480")
    titles = [g.find("s:title", ns).text for g in root.findall("s:g[@class='step s-ok']", ns)]
    assert "stop xcatd on xcatmn1: ok, 1.3 s (+10.2 s to +11.6 s)" in titles
    ticks = [t.text for t in root.findall("s:g[@class='axis']/s:text", ns)]
    assert ticks[:4] == ["0 s", "5 s", "10 s", "15 s"]
    assert "<script" not in image


def test_hostile_names_from_the_journal_are_escaped() -> None:
    steps = [s | {"name": HOSTILE + s["name"], "node": HOSTILE} for s in deactivation()]
    steps += activation()
    steps[0]["phase"] = HOSTILE
    image = str(svg(build(journal(steps, [gate(HOSTILE, "after", HOSTILE, 12.0, 1.0)]))))
    assert "<script" not in image and "<svg onload" not in image and "'x'" not in image
    root = ET.fromstring(image)
    tags = {e.tag.split("}")[1] for e in root.iter()}
    assert tags <= {"svg", "title", "desc", "g", "rect", "text", "path", "line"}, tags
    assert any(HOSTILE in (e.text or "") for e in root.iter())  # shown as text, intact


def test_the_run_page_states_the_outage_and_marks_it(tmp_path: Path) -> None:
    run = Journal.from_dict(planned(), run_dir=tmp_path)
    page = render_run_report(run)
    assert "<strong>xCAT outage: 14.2 s, from stop xcatd on xcatmn1 to start xcatd on xcatmn2.</strong>" in page
    assert page.index('id="timeline"') < page.index('id="phase-1"')
    assert "<script" not in page
    write_run_report(run, tmp_path)
    (tmp_path / "journal.json").write_text(json.dumps(run.to_dict()))
    assert assert_page_window_matches_journal(tmp_path) == pytest.approx((10.25, 24.48))


# --- milliseconds in the journal ----------------------------------------------------------------------------


def test_the_journal_records_milliseconds_and_a_live_window_agrees_with_the_clock(tmp_path: Path) -> None:
    run = Journal.create(tmp_path, "failover", phases=["stop services", "xcatd"])
    begun = time.monotonic()
    stop = run.start_step("stop services", "stop xcatd", "xcatmn1", "systemctl stop xcatd")
    time.sleep(0.35)
    run.finish_step(stop, "ok", 0)
    time.sleep(0.35)
    start = run.start_step("xcatd", "start xcatd", "xcatmn2", "systemctl start xcatd")
    time.sleep(0.35)
    run.finish_step(start, "ok", 0)
    lasted = time.monotonic() - begun
    run.finish("succeeded")
    data = json.loads(run.path.read_text())
    assert all(MS_STAMP.match(s) for s in [data["started_at"], data["finished_at"],
                                           *(s["started_at"] for s in data["steps"])]), data  # fmt: skip
    write_run_report(run, run.run_dir)
    shown = page_window((run.run_dir / "index.html").read_text())
    # Whole seconds could be a second off here; milliseconds keep the page within a few of the clock.
    assert abs((shown[1] - shown[0]) - lasted) <= 0.1, (shown, lasted)


def test_a_gate_records_when_it_began(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = load_inventory(ROOT / "tests" / "inventories" / "full.yml")
    runbook = loading.load_for("activate", inventory, inventory.nodes[1])
    database = next(p for p in runbook.phases if p.name == "database")
    answers = [[SimpleNamespace(check_id="pg.accepting", outcome="failed", observed="", expected="", fix="",
                                message="", blocked_by="")], []]  # red once, then green  # fmt: skip

    def run_checks(*_args: object, **_kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(summary=SimpleNamespace(not_ready=answers.pop(0)), unreachable="", reports=[])

    monkeypatch.setattr(executor_mod, "run_checks", run_checks)
    monkeypatch.setattr(executor_mod, "ensure_reachable", lambda *_args: object())  # red checks: is it there?
    monkeypatch.setattr(executor_mod, "GATE_POLL_S", 0.6)
    run = Journal.create(tmp_path, "activate")
    executor = executor_mod.Executor(runbook, inventory, run, tmp_path, executor_mod.Options(echo=lambda _: None))
    executor._gate(database, Gate("post-activate", ("pg.accepting",), retry_timeout_s=30), "after")
    ended = datetime.now().astimezone()
    record: GateRecord = run.gates[0]
    assert MS_STAMP.match(record.started_at or ""), record.started_at
    assert record.duration_s is not None and record.duration_s >= 0.6
    began = datetime.fromisoformat(record.started_at or "")
    assert abs((ended - began).total_seconds() - record.duration_s) <= 0.1  # its start, not its end


def test_the_schema_doc_says_milliseconds() -> None:
    text = (ROOT / "docs" / "journal-schema.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    assert "to the millisecond" in text
    assert MS_STAMP.match(example["started_at"]) and MS_STAMP.match(example["steps"][0]["started_at"])


# --- in a browser -------------------------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs /usr/bin/chromium")
def test_the_timeline_in_chromium_states_the_outage_the_journal_has(tmp_path: Path) -> None:
    run_dir = tmp_path / "20261125T070638-failover"
    run_dir.mkdir()
    data = planned()
    data["steps"][0]["name"] = HOSTILE + " disable xcatd"  # escaped, and still no script runs
    (run_dir / "journal.json").write_text(json.dumps(data))
    page = write_run_report(Journal.load(run_dir), run_dir)
    dom, console = load(page, tmp_path / "profile")
    assert console == []
    assert re.search(r'<svg[^>]*role="img"', dom) and 'id="outage-window"' in dom
    text = page_text(dom)
    stated = re.search(r"xCAT outage: ([\d.]+) s, from stop xcatd on xcatmn1 to start xcatd on xcatmn2", text)
    assert stated, text[:2000]
    begin, end = journal_window(data)  # from the journal's step timestamps
    assert abs(float(stated.group(1)) - (end - begin)) <= TOLERANCE_S
    shown = page_window(dom)
    assert abs(shown[0] - begin) <= TOLERANCE_S and abs(shown[1] - end) <= TOLERANCE_S
    assert HOSTILE + " disable xcatd" in text
