"""xcatha-run on the real lab: planned and unplanned failover, gates that stop, resume, dry run, lock, prepare."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observe import snapshot
from tests.run_page import assert_page_window_matches_journal
from tests.way_back import drift_verdict, printed, read_until, run_on_terminal, stop_before
from xcatha_verify.lab import faults
from xcatha_verify.lab.fixture import SESSION_LAB, own_lab
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import DB_NAME, DB_USER, LabLayout

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent
NODES = ("xcatmn1", "xcatmn2")


@pytest.fixture(scope="module")
def rlab() -> Iterator[Lab]:
    """A lab of this module's own: failovers move its roles around."""
    yield from own_lab(LabLayout(name=f"{SESSION_LAB}r"))


def xrun(lab: Lab, tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "xcatha-run"), *args, "--inventory", str(lab.layout.inventory), "--report-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def assert_drift_green(lab: Lab, tmp_path: Path) -> None:
    verdict, shown = drift_verdict(BIN, lab.layout.inventory, tmp_path / "drift")
    assert verdict == "green", shown


def active_node(lab: Lab) -> str:
    holders = [n for n in NODES if lab.holds_vip(n)]
    assert len(holders) == 1, holders
    return holders[0]


def psql(lab: Lab, sql: str) -> str:
    """SQL through the VIP, from the standby (its static IP is in pg_hba.conf)."""
    standby = next(n for n in NODES if n != active_node(lab))
    conninfo = f"host={lab.layout.vip} dbname={DB_NAME} user={DB_USER} connect_timeout=5"
    script = f'PGPASSWORD="$(cat)" exec psql -X -A -t -v ON_ERROR_STOP=1 "{conninfo}" -c "$1"'
    return lab.run(standby, ["sh", "-c", script, "psql", sql], input_text=lab.db_password).stdout.strip()


def journal(tmp_path: Path) -> dict:
    newest = max(tmp_path.glob("*/journal.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def newest_run(tmp_path: Path, runbook: str) -> Path:
    """The run directory of the newest run of `runbook` (its journal.json and index.html)."""
    # A second run started in the same second is RUNID-2 (files.new_run_dir); failover is not failover-unplanned.
    name = re.compile(rf"\d{{8}}T\d{{6}}-{re.escape(runbook)}(-\d+)?")
    runs = [p for p in tmp_path.glob("*/journal.json") if name.fullmatch(p.parent.name)]
    return max(runs, key=lambda p: p.stat().st_mtime_ns).parent


def test_dry_run_changes_nothing_and_shows_every_command(rlab: Lab, tmp_path: Path) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    before = {n: snapshot(rlab, n) for n in NODES}
    proc = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {n: snapshot(rlab, n) for n in NODES} == before
    assert "DRY-RUN stop xcatd: systemctl stop xcatd\n" in proc.stdout  # as an admin would type it
    assert "DRY-RUN start postgresql: systemctl start postgresql\n" in proc.stdout
    assert "timeout --kill-after" not in proc.stdout
    assert "gate before disable at boot: GREEN" in proc.stdout  # judged now: it only reads the pair as it is
    # What depends on the phases before it is named, not judged against the unchanged pair.
    assert "gate before VIP: would check pre-activate checks (not judged now" in proc.stdout
    assert "gate after services: would check post-activate checks" in proc.stdout and "RED" not in proc.stdout
    assert journal(tmp_path)["status"] == "dry-run"
    # A gate that can be judged now and is red makes the dry run exit 1: activating the standby while
    # the active node still holds everything.
    red = xrun(rlab, tmp_path, "activate", "--node", target, "--dry-run")
    assert red.returncode == 1, red.stdout
    assert "gate before VIP: RED (pre-activate checks)" in red.stdout and "pair.peer_deactivated" in red.stdout
    assert {n: snapshot(rlab, n) for n in NODES} == before


def test_without_a_terminal_or_yes_it_refuses(rlab: Lab, tmp_path: Path) -> None:
    proc = xrun(rlab, tmp_path, "deactivate", "--node", active_node(rlab))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--yes" in proc.stderr


def test_on_a_terminal_the_gate_comes_first_enter_is_no_and_nothing_changes(rlab: Lab, tmp_path: Path) -> None:
    active = active_node(rlab)
    before = snapshot(rlab, active)
    main_fd, terminal = os.openpty()
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), "deactivate", "--node", active, "--inventory", str(rlab.layout.inventory),
         "--report-dir", str(tmp_path)], stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    question = f"Run phase 'disable at boot' on {active} now? [y/N/d] "
    try:
        first = read_until(main_fd, lambda seen: question in seen)
        os.write(main_fd, b"yes please\n")
        again = read_until(main_fd, lambda seen: question in seen)
        os.write(main_fd, b"d\n")
        shown = read_until(main_fd, lambda seen: question in seen)
        os.write(main_fd, b"\n")  # Enter
        assert proc.wait(timeout=60) == 1
        rest = read_until(main_fd, lambda seen: "run report:" in seen, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)
    # The gate's result is on the screen before the question; then the steps as an admin would type them.
    assert first.index("gate before disable at boot: GREEN") < first.index(question)
    assert "1. systemctl is-active goconserver conserver" in first and "systemctl disable xcatd" in first
    assert "'yes please' is not an answer here: y runs the phase, n or Enter stops the run here" in again
    assert f"would run on {active}: systemctl disable postgresql" in shown and "timeout --kill" not in shown
    assert f"stopped before phase 'disable at boot' on {active}: the operator answered No" in rest
    assert f"nothing moved since the run started: {active} serves xCAT as before" in rest
    assert snapshot(rlab, active) == before
    record = journal(tmp_path)
    assert record["failed_phase"] == "disable at boot" and record["pair_now"]["serving"] == [active]


def _way_back(rlab: Lab, tmp_path: Path, screen: str, source: str, rows: list[str]) -> None:
    """Run the go-back command the pair-now block printed, as printed (answering y on a terminal when it
    asks), and prove `source` active and green with the rows it had."""
    argv = printed(screen, f"go back to {source}")
    assert argv[:4] == ["xcatha-run", "failback", "--to", source] and str(rlab.layout.inventory) in argv
    argv[0] = str(BIN / argv[0])
    if "--yes" in argv:
        back = subprocess.run(argv, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        status, shown = back.returncode, back.stdout + back.stderr
    else:
        status, shown = run_on_terminal(argv, lambda phase: "y")
    assert status == 0, shown
    assert active_node(rlab) == source
    # Its page marks the outage where its journal's steps put it: stop xcatd on the peer to start xcatd here.
    assert_page_window_matches_journal(newest_run(tmp_path, "failback"))
    assert psql(rlab, "SELECT token FROM way_back_rows ORDER BY token").split() == rows
    assert_drift_green(rlab, tmp_path)


def _rows(rlab: Lab, case: str) -> list[str]:
    psql(rlab, "CREATE TABLE IF NOT EXISTS way_back_rows (token text)")
    psql(rlab, f"INSERT INTO way_back_rows VALUES ('{case}-{time.time_ns()}')")
    return psql(rlab, "SELECT token FROM way_back_rows ORDER BY token").split()


def test_no_after_the_services_stopped_shows_no_server_and_the_way_back_restores(rlab: Lab, tmp_path: Path) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    rows = _rows(rlab, "no")
    status, screen = run_on_terminal(
        [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--inventory",
         str(rlab.layout.inventory), "--report-dir", str(tmp_path)], stop_before("disconnect shared data"),
    )  # fmt: skip
    assert status == 1, screen
    assert "PAIR NOW (the run stopped in phase 'disconnect shared data')" in screen
    assert f"{source}: VIP yes; shared data all of" in screen and "running: none of the services" in screen
    assert "xCAT is served by: NO NODE" in screen
    record = journal(tmp_path)
    assert record["failed_phase"] == "disconnect shared data" and record["pair_now"]["serving"] == []
    assert printed(screen, "continue")[-1] == "--resume"
    _way_back(rlab, tmp_path, screen, source, rows)


def test_postgresql_failing_on_the_target_the_way_back_restores_the_source(rlab: Lab, tmp_path: Path) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    rows = _rows(rlab, "pg")
    faults.inject(rlab, "pg-cannot-start", target)
    try:
        proc = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--yes")
        assert proc.returncode == 1, proc.stdout
        # The VIP and the shared data sit on a node without a database: nobody serves, and it says so.
        assert f"{target}: VIP yes; shared data all of" in proc.stdout
        assert "xCAT is served by: NO NODE" in proc.stdout
        assert journal(tmp_path)["pair_now"]["stopped_in"] == "database"
        # xcatd stopped on the source and never started on the target: not ended, up to the run's end.
        assert_page_window_matches_journal(newest_run(tmp_path, "failover"))
        assert "xCAT outage: not ended; " in (newest_run(tmp_path, "failover") / "index.html").read_text()
        # Progress while it retries: the attempt's own words, and the step saying it still runs.
        assert "retry 1/3 start postgresql: exit " in proc.stdout
        assert "   .. start postgresql: running, 5 s" in proc.stdout
        _way_back(rlab, tmp_path, proc.stdout, source, rows)  # with the fault still there: the target is let go
    finally:
        faults.repair(rlab, "pg-cannot-start", target)
    page = (max(tmp_path.glob("*-failover/index.html"), key=lambda p: p.stat().st_mtime)).read_text()
    assert page.index('id="pair-now"') < page.index('id="phase-1"') and "NO NODE" in page


def test_activate_refused_while_the_vip_answers_elsewhere(rlab: Lab, tmp_path: Path) -> None:
    standby = next(n for n in NODES if n != active_node(rlab))
    before = snapshot(rlab, standby)
    proc = xrun(rlab, tmp_path, "activate", "--node", standby, "--yes")
    assert proc.returncode == 1
    assert "vip.free_on_network" in proc.stdout and "pair.peer_deactivated" in proc.stdout
    assert snapshot(rlab, standby) == before
    assert journal(tmp_path)["failed_phase"] == "VIP"


SITE_ACTIVATE = """
name: activate
summary: VIP up, then a step that fails
phases:
  - name: VIP
    node: {{ node.name | tojson }}
    steps:
      - {name: VIP up, action: vip_up}
      - {name: a step that fails, command: ["false"]}
"""


def test_a_phase_failing_after_vip_up_takes_the_vip_back_down(rlab: Lab, tmp_path: Path) -> None:
    active = active_node(rlab)
    standby = next(n for n in NODES if n != active)
    before = snapshot(rlab, standby)
    site = tmp_path / "site-runbooks"
    site.mkdir()
    (site / "activate.yml").write_text(SITE_ACTIVATE)
    try:
        proc = xrun(rlab, tmp_path, "activate", "--node", standby, "--yes", "--runbook-dir", str(site))
    finally:  # neighbours' caches follow the VIP's holder again, whatever the undo did
        rlab.run(active, [sys.executable, "-m", "xcatha_verify.arp", "announce", rlab.layout.interface,
                          str(rlab.layout.vip)])  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "OK   VIP up" in proc.stdout and "UNDO take the VIP back down" in proc.stdout
    assert not rlab.holds_vip(standby) and rlab.holds_vip(active)
    assert snapshot(rlab, standby) == before
    steps = {s["name"]: s["status"] for s in journal(tmp_path)["steps"]}
    assert steps == {"VIP up": "ok", "a step that fails": "failed", "take the VIP back down": "ok"}


def test_postgresql_failing_stops_at_its_gate_and_resume_completes(rlab: Lab, tmp_path: Path) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    faults.inject(rlab, "pg-cannot-start", target)
    try:
        proc = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--yes")
        assert proc.returncode == 1, proc.stdout
        assert journal(tmp_path)["failed_phase"] == "database"
        assert "--resume" in proc.stdout
    finally:
        faults.repair(rlab, "pg-cannot-start", target)
    proc = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--yes", "--resume")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "done in the run being resumed, skipped" in proc.stdout
    assert active_node(rlab) == target
    assert_drift_green(rlab, tmp_path)


TOKEN = "/etc/xcat/.xcatha-storage-id"
FSTAB_LINE = "/xcatha-shared/etc-xcat /etc/xcat none bind,noauto 0 0"
# What the node taking over connects in the storage's place: (its fstab line for /etc/xcat, or None for the
# lab's own with the storage's token replaced by an older one), the check that must fail, what it must say.
STALE_STORAGE = {
    # A node-local copy that even carries a copy of the current token: another filesystem.
    "local-copy": ("/root/stale-etc-xcat /etc/xcat none bind,noauto 0 0", "shared.identity",
                   "/etc/xcat is overlay[/root/stale-etc-xcat] (overlay); activation "),
    "empty-filesystem": ("tmpfs /etc/xcat tmpfs noauto 0 0", "shared.identity",
                         f"no storage token at {TOKEN}: /etc/xcat is tmpfs (tmpfs)"),
    # The same export, restored from an older snapshot: the node that was active recorded a newer activation.
    "restored-older": (None, "pair.same_storage", "carries only activation "),
}


@pytest.mark.parametrize("case", list(STALE_STORAGE))
def test_a_stale_or_empty_storage_stops_the_activation_before_postgresql(rlab: Lab, tmp_path: Path, case: str) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    fstab_line, check_id, observed = STALE_STORAGE[case]
    shared_token = rlab.layout.shared_dir("/etc/xcat") / ".xcatha-storage-id"
    # Deactivated first, apart: its deactivation records the storage's token as it finds it. (It leaves
    # its run lock in the storage it unmounts: the next run on the node that connects it removes that.)
    left = (rlab.layout.shared_dir("/etc/xcat") / ".xcatha-run.lock").exists()  # by an earlier case's deactivation
    deactivated = xrun(rlab, tmp_path, "deactivate", "--node", source, "--yes")
    assert deactivated.returncode == 0, deactivated.stdout + deactivated.stderr
    assert ("that run has ended (it holds no node lock)" in deactivated.stdout) == left, deactivated.stdout
    current = shared_token.read_text()
    recorded = rlab.run(target, ["cat", "/var/lib/xcatha/storage-id"]).stdout
    if case == "local-copy":  # taken on the node from the lab's export, as an admin's rsync would
        rlab.run(target, ["cp", "-a", "/xcatha-shared/etc-xcat", "/root/stale-etc-xcat"])
    if fstab_line:
        rlab.run(target, ["sed", "-i", f"s|^{FSTAB_LINE}$|{fstab_line}|", "/etc/fstab"])
    else:  # the token the target recorded at its last deactivation (or the lab's first): an older activation
        shared_token.write_text(recorded)
    try:
        proc = xrun(rlab, tmp_path, "activate", "--node", target, "--yes")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        record = journal(tmp_path)
        assert record["failed_phase"] == "shared data", proc.stdout
        failing = {f["check_id"]: f for f in record["gates"][-1]["failing"] if f["outcome"] == "failed"}
        assert set(failing) == {check_id}, proc.stdout
        assert observed in failing[check_id]["observed"], failing
        # PostgreSQL never started on it, and the storage was not claimed.
        assert rlab.run(target, ["systemctl", "is-active", "postgresql"], check=False).stdout.strip() == "inactive"
        assert shared_token.read_text() == (current if fstab_line else recorded)
    finally:  # the fstab line or the token put right, the wrong mount off: the run resumes to the end
        if fstab_line:
            rlab.run(target, ["sed", "-i", f"s|^{fstab_line}$|{FSTAB_LINE}|", "/etc/fstab"])
            rlab.run(target, ["sh", "-c", "! mountpoint -q /etc/xcat || umount /etc/xcat; rm -rf /root/stale-etc-xcat"])
        shared_token.write_text(current)
    proc = xrun(rlab, tmp_path, "activate", "--node", target, "--yes", "--resume")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert active_node(rlab) == target
    assert_drift_green(rlab, tmp_path)


def test_a_second_run_is_refused_by_the_lock(rlab: Lab, tmp_path: Path) -> None:
    node = active_node(rlab)
    held = {"owner": "root@elsewhere", "host": os.uname().nodename, "pid": os.getpid(), "runbook": "failover",
            "run_id": "20260101T000000-failover", "started_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    rlab.write(node, "/var/lib/xcatha/run.lock", json.dumps(held))
    try:
        proc = xrun(rlab, tmp_path, "deactivate", "--node", node, "--yes")
        assert proc.returncode == 1
        assert "held by root@elsewhere" in proc.stdout and "--break-lock" in proc.stdout
        assert rlab.holds_vip(node)  # nothing was done
    finally:
        rlab.path(node, "/var/lib/xcatha/run.lock").unlink(missing_ok=True)


def test_prepare_fixes_missing_pg_entries_and_second_run_is_a_noop(rlab: Lab, tmp_path: Path) -> None:
    node = active_node(rlab)
    peer = next(n for n in NODES if n != node)
    faults.inject(rlab, "pg-hba-missing", peer)
    faults.inject(rlab, "pg-listen-missing", peer)
    try:
        first = xrun(rlab, tmp_path, "prepare", "--node", node, "--yes")
        assert first.returncode == 0, first.stdout
        assert f"+host    all          all        {rlab.layout.static_ip(peer)}/32" in first.stdout
        assert "backup: /var/lib/pgsql/data/pg_hba.conf.xcatha-" in first.stdout
        second = xrun(rlab, tmp_path, "prepare", "--node", node, "--yes")
        assert second.returncode == 0
        assert "+++" not in second.stdout and second.stdout.count("noop") >= 4
    finally:
        for fault in ("pg-listen-missing", "pg-hba-missing"):
            faults.repair(rlab, fault, peer)


def test_unplanned_failover_needs_fencing_then_activates(rlab: Lab, tmp_path: Path) -> None:
    failed = active_node(rlab)
    target = next(n for n in NODES if n != failed)
    faults.inject(rlab, "unreachable", failed)
    faults.inject(rlab, "node-hung", failed)  # fenced: nothing of it can act any more
    try:
        planned = xrun(rlab, tmp_path, "failover", "--from", failed, "--to", target, "--yes")
        assert planned.returncode == 2 and "--unplanned" in planned.stderr
        unproven = xrun(rlab, tmp_path, "failover", "--to", target, "--unplanned", "--yes")
        assert unproven.returncode == 2 and "fenced" in unproven.stderr, unproven.stdout
        proc = xrun(rlab, tmp_path, "failover", "--to", target, "--unplanned", "--fenced", "--yes")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "disconnect it from the network before it reboots" in proc.stdout
        # No stop xcatd (the failed node is fenced): the page's window runs from the run's start to start xcatd.
        assert assert_page_window_matches_journal(newest_run(tmp_path, "failover-unplanned"))[0] == 0.0
        assert rlab.holds_vip(target)
        # The failed node's server never shut down: before PostgreSQL started, the report said so.
        gates = sorted(tmp_path.glob("*/gates/*post-activate*.json"), key=lambda p: p.stat().st_mtime_ns)
        seen = [r["observed"] for p in gates for r in json.loads(p.read_text())["results"]
                if r["check_id"] == "pg.data_dir_state"]  # fmt: skip
        assert "cluster state 'in production' with no server running: it was not shut down cleanly" in seen[0], seen
    finally:
        # The seed's advice followed: the failed node reboots disconnected; nothing of it starts at boot.
        rlab.reboot(failed)
    assert active_node(rlab) == target
    assert_drift_green(rlab, tmp_path)


def test_ctrl_c_records_the_step_exits_130_and_resume_finishes(rlab: Lab, tmp_path: Path) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
         str(rlab.layout.inventory), "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        # As on a terminal: a test run started in the background inherits SIGINT ignored, and Python then
        # keeps ignoring it (the operator's Ctrl-C would never arrive).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Ctrl-C while a step is under way; "disable postgresql" reloads systemd (a few hundred ms), so the
    # key press lands inside the step and not in the gate after it.
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(tmp_path.glob("*/journal.json"))
        steps = json.loads(journals[0].read_text())["steps"] if journals else []
        if any(s["name"] == "disable postgresql" and s["status"] == "running" for s in steps):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    record = journal(tmp_path)
    assert record["status"] == "interrupted"
    assert any(s["status"] == "interrupted" for s in record["steps"])
    resumed = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--yes", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert active_node(rlab) == target


def _wait_for_step(proc: subprocess.Popen[str], tmp_path: Path, step: str, status: str, timeout: float = 180) -> None:
    """Return the moment the newest run's journal shows a step named `step` (or starting so) with `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        journals = sorted(tmp_path.glob("*/journal.json"), key=lambda p: p.stat().st_mtime_ns)
        try:
            steps = json.loads(journals[-1].read_text())["steps"] if journals else []  # the newest run's
        except ValueError:  # never half-written (atomic), but be safe
            steps = []
        if any(s["name"].startswith(step) and s["status"] == status for s in steps):
            return
        time.sleep(0.01)
    proc.kill()
    raise AssertionError(f"the run never reached {step!r} {status}: {proc.communicate()[0]}")


def _kill_when(proc: subprocess.Popen[str], tmp_path: Path, step: str, status: str, timeout: float = 180) -> None:
    """SIGKILL the run the moment its journal shows `step` with `status` (no chance to record anything)."""
    _wait_for_step(proc, tmp_path, step, status, timeout)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


# One SIGKILL per phase of the planned failover, in the phase's order: inside a step (its journal record
# says running) or at a step boundary (the step recorded ended, the next not started). Every step of
# every phase, both ways, is benchmarks/fault_matrix.py's.
KILLS = {
    "disable-at-boot": ("disable ", "ok"),
    "stop-services": ("stop xcatd", "running"),
    "disconnect-shared-data": ("unmount /var/lib/pgsql", "ok"),
    "drop-the-vip": ("remove ", "ok"),
    "vip": ("VIP ", "ok"),
    "shared-data": ("connect ", "ok"),
    "database": ("start postgresql", "ok"),
    "xcatd": ("start xcatd", "running"),
    "services": ("makedns -n", "running"),
}


@pytest.mark.parametrize(("step", "status"), list(KILLS.values()), ids=[f"in-phase-{k}" for k in KILLS])
def test_failover_killed_with_sigkill_resumes_to_one_holder_and_loses_nothing(
    rlab: Lab, tmp_path: Path, step: str, status: str
) -> None:
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    psql(rlab, "CREATE TABLE IF NOT EXISTS killed_rows (token text)")
    token = f"{step}-{time.time_ns()}"
    psql(rlab, f"INSERT INTO killed_rows VALUES ('{token}')")
    before = psql(rlab, "SELECT token FROM killed_rows ORDER BY token").split()
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
         str(rlab.layout.inventory), "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    _kill_when(proc, tmp_path, step, status)
    assert proc.returncode == -signal.SIGKILL
    assert journal(tmp_path)["status"] == "running"  # what a SIGKILL leaves: no chance to record the end
    resumed = xrun(rlab, tmp_path, "failover", "--from", source, "--to", target, "--yes", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert active_node(rlab) == target
    assert psql(rlab, "SELECT token FROM killed_rows ORDER BY token").split() == before
    assert_drift_green(rlab, tmp_path)


def write_a_row(lab: Lab, table: str) -> list[str]:
    """A new row in `table` through the VIP (created if need be); every row it holds now."""
    psql(lab, f"CREATE TABLE IF NOT EXISTS {table} (token text)")
    psql(lab, f"INSERT INTO {table} VALUES ('{table}-{time.time_ns()}')")
    return rows(lab, table)


def rows(lab: Lab, table: str) -> list[str]:
    return psql(lab, f"SELECT token FROM {table} ORDER BY token").split()


def _lock_files(lab: Lab) -> dict[str, str]:
    """Every run lock file on the nodes (node locks, and the shared storage's where it is mounted)."""
    found = {}
    for node in NODES:
        for path in ("/var/lib/xcatha/run.lock", "/etc/xcat/.xcatha-run.lock"):
            text = lab.run(node, ["sh", "-c", 'cat -- "$1" 2>/dev/null || true', "sh", path]).stdout
            if text.strip():
                found[f"{node}:{path}"] = text
    return found


def test_a_resume_of_a_resume_takes_over_the_chains_locks_and_finishes(rlab: Lab, tmp_path: Path) -> None:
    """Run A fails (PostgreSQL cannot start), resume B is killed with SIGKILL inside the database phase
    (its locks stay behind), resume C takes them over without --break-lock and finishes."""
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    before = write_a_row(rlab, "chain_rows")
    args = ("failover", "--from", source, "--to", target, "--yes")
    faults.inject(rlab, "pg-cannot-start", target)
    try:
        first = xrun(rlab, tmp_path, *args)
        assert first.returncode == 1 and journal(tmp_path)["failed_phase"] == "database", first.stdout
    finally:
        faults.repair(rlab, "pg-cannot-start", target)
    run_a = journal(tmp_path)["run_id"]
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), *args, "--resume", "--inventory", str(rlab.layout.inventory), "--report-dir",
         str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    _kill_when(proc, tmp_path, "start postgresql", "ok")
    killed = journal(tmp_path)
    assert killed["resumed_from"] == [run_a] and killed["status"] == "running"
    left = _lock_files(rlab)
    assert left and all(json.loads(text)["run_id"] == killed["run_id"] for text in left.values()), left
    resumed = xrun(rlab, tmp_path, *args, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "held by" not in resumed.stdout and "--break-lock" not in resumed.stdout
    assert journal(tmp_path)["resumed_from"] == [run_a, killed["run_id"]]
    assert _lock_files(rlab) == {}  # taken over, then released at the end
    assert active_node(rlab) == target
    assert rows(rlab, "chain_rows") == before
    assert_drift_green(rlab, tmp_path)


def test_the_target_lost_mid_activation_stops_at_once_and_resume_finishes(rlab: Lab, tmp_path: Path) -> None:
    """The target's link goes down right after it took the VIP: the run stops at its next command with one
    line naming the node and ssh's reason (no retries, no object dump), the pair as far as it can be read
    and the ways on; the locks on the reachable node are released. Once the link is back, --resume finishes."""
    source = active_node(rlab)
    target = next(n for n in NODES if n != source)
    before = write_a_row(rlab, "lost_rows")
    args = ("failover", "--from", source, "--to", target, "--yes")
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), *args, "--inventory", str(rlab.layout.inventory), "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_step(proc, tmp_path, "VIP ", "ok")
        faults.inject(rlab, "link-down", target)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 1, out
        record = journal(tmp_path)
        stop = next((line for line in out.splitlines() if line.startswith("FAILED: ")), out)
        assert f"{target} (" in stop and "cannot be reached: " in stop, stop
        assert "CommandResult" not in out + (Path(tmp_path / record["run_id"] / "run.log").read_text())
        assert f"{target}: unreachable" in out and "PAIR NOW" in out
        assert f"continue once {target} answers again: " in out and "--resume" in out
        assert f"without {target} (power it off or fence it first" in out
        assert f"xcatha-run failover --to {source} --unplanned" in out
        failed = [s for s in record["steps"] if s["status"] == "failed"]
        assert all(s["attempts"] <= 1 for s in failed), failed  # stopped at once, not after the retries
        assert record["pair_now"]["without_node"] == target
        left = _lock_files(rlab)  # what the nodes hold, read from inside them (the link is down)
        assert f"{source}:/var/lib/xcatha/run.lock" not in left, left  # released where it could be
        assert all(json.loads(text)["run_id"] == record["run_id"] for text in left.values()), left
    finally:
        faults.repair(rlab, "link-down", target)
    resumed = xrun(rlab, tmp_path, *args, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "held by" not in resumed.stdout
    assert _lock_files(rlab) == {}
    assert active_node(rlab) == target
    assert rows(rlab, "lost_rows") == before
    assert_drift_green(rlab, tmp_path)
