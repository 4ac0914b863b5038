"""Drift reports on the real lab: green, a fault on the standby newly failing, then resolved; the metrics agree;
a drift run while a real failover holds the run lock is "failover in progress", and a stale lock is passed over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.way_back import read_until
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab import faults
from xcatha_verify.lab.lab import Lab
from xcatha_verify.nodepaths import NODE_LOCK, shared_lock_path
from xcatha_verify.runbook_engine.lock import LockInfo

pytestmark = pytest.mark.lab
VERIFY = str(Path(sys.executable).parent / "xcatha-verify")
RUN = str(Path(sys.executable).parent / "xcatha-run")


def drift_proc(lab: Lab, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VERIFY, "--inventory", str(lab.layout.inventory), "drift", "--report-dir", str(root), "--keep-days", "30"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def drift(lab: Lab, root: Path) -> tuple[int, dict]:
    proc = drift_proc(lab, root)
    return proc.returncode, json.loads((root / "latest.json").read_text())


def drift_with(lab: Lab, root: Path, fault: str, node: str) -> tuple[int, dict]:
    """A drift run while `fault` is on `node` (repaired after, whatever happened)."""
    faults.inject(lab, fault, node)
    try:
        return drift(lab, root)
    finally:
        faults.repair(lab, fault, node)


def metrics(root: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = (root / "xcatha.prom").read_text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }  # fmt: skip


def test_drift_history_follows_a_fault_on_the_standby(lab: Lab, tmp_path: Path) -> None:
    root = tmp_path / "drift"
    status, latest = drift(lab, root)
    assert status == 0, latest
    assert latest["verdict"] == "green"

    status, latest = drift_with(lab, root, "service-enabled", "xcatmn2")
    assert status == 1
    newly = [(c["node"], c["check_id"]) for c in latest["changes"]["newly_failing"]]
    assert newly == [("xcatmn2", "services.disabled_at_boot")]
    index = (root / "index.html").read_text()
    assert "services.disabled_at_boot" in index and "xcatmn2" in index

    found = metrics(root)
    cluster = latest["cluster"]
    for key, check in latest["checks"].items():
        labels = (("check", check["check_id"]), ("cluster", cluster), ("node", check["node"]))
        assert found[("xcatha_check_ok", labels)] == (1.0 if check["outcome"] == "passed" else 0.0), key
    failed = sum(1 for c in latest["checks"].values() if c["outcome"] in ("failed", "error"))
    assert found[("xcatha_checks_failed", (("cluster", cluster),))] == failed == 1

    status, latest = drift(lab, root)
    assert status == 0
    resolved = [(c["node"], c["check_id"]) for c in latest["changes"]["resolved"]]
    assert resolved == [("xcatmn2", "services.disabled_at_boot")]
    assert len([p for p in root.iterdir() if (p / "run.json").exists()]) == 3


def test_unreachable_standby_is_exit_3_and_shown(lab: Lab, tmp_path: Path) -> None:
    root = tmp_path / "drift"
    status, latest = drift_with(lab, root, "link-down", "xcatmn2")
    assert status == 3
    assert latest["nodes"]["xcatmn2"]["reachable"] is False
    assert "UNREACHABLE" in (root / "index.html").read_text()


CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
DRIFT_UNITS = ("xcatha-drift.service", "xcatha-drift.timer")


def test_contrib_timer_runs_drift_under_the_nodes_systemd(lab: Lab) -> None:
    """contrib/'s units, installed as contrib/README.md says, on a node whose PID 1 is the real systemd."""
    node = "xcatmn1"
    # Where `pip install` of xcatha-verify would put the command (the unit finds it on systemd's PATH).
    lab.run(node, ["ln", "-sfn", VERIFY, "/usr/local/bin/xcatha-verify"])
    for unit in DRIFT_UNITS:
        lab.write(node, f"/etc/systemd/system/{unit}", (CONTRIB / unit).read_text())
    try:
        paths = [f"/etc/systemd/system/{u}" for u in DRIFT_UNITS]
        verify = lab.run(node, ["systemd-analyze", "verify", *paths], check=False)
        assert verify.returncode == 0, verify.stderr
        assert "xcatha-drift" not in verify.stderr, verify.stderr
        lab.systemctl(node, "daemon-reload")
        lab.systemctl(node, "enable", "--now", "xcatha-drift.timer")
        timers = lab.systemctl(node, "list-timers", "--all", "--no-pager").stdout
        assert "xcatha-drift.timer" in timers and "xcatha-drift.service" in timers
        started = lab.systemctl(node, "start", "xcatha-drift.service", check=False)  # oneshot: waits for the run
        log = lab.run(node, ["journalctl", "-u", "xcatha-drift.service", "--no-pager", "-q"]).stdout
        assert started.returncode == 0, log
        latest = json.loads(lab.path(node, "/var/lib/xcatha/drift/latest.json").read_text())
        assert latest["verdict"] == "green" and latest["exit_status"] == 0, latest
        assert set(latest["nodes"]) == {"xcatmn1", "xcatmn2"}
        assert lab.path(node, "/var/lib/xcatha/drift/xcatha.prom").exists()
        assert "Finished xcatha-drift.service" in log or "Deactivated successfully" in log, log
    finally:
        lab.systemctl(node, "disable", "--now", "xcatha-drift.timer", check=False)
        lab.systemctl(node, "reset-failed", "xcatha-drift.service", check=False)  # no failed unit left behind
        lab.run(node, ["rm", "-rf", *(f"/etc/systemd/system/{u}" for u in DRIFT_UNITS), "/var/lib/xcatha/drift",
                       "/usr/local/bin/xcatha-verify"])  # fmt: skip
        lab.systemctl(node, "daemon-reload")


# --- drift while a runbook holds the run lock ------------------------------------------------------


def _lock_files(lab: Lab) -> dict[str, Path]:
    """Where a failover from xcatmn1 puts its lock: each node, and the shared storage (mounted on xcatmn1)."""
    shared = load_inventory(lab.layout.inventory).shared_data[0].path
    return {"xcatmn1": lab.path("xcatmn1", NODE_LOCK), "xcatmn2": lab.path("xcatmn2", NODE_LOCK),
            "shared storage via xcatmn1": lab.path("xcatmn1", shared_lock_path(shared))}  # fmt: skip


def test_drift_during_a_real_failover_is_in_progress_not_drift(lab: Lab, tmp_path: Path) -> None:
    """xcatha-run failover on a terminal, waiting at its first question with the lock held: a drift run then
    judges nothing and exits 0; answering No ends the run, nothing moved, and drift judges again."""
    root = tmp_path / "drift"
    status, before = drift(lab, root)
    assert status == 0 and before["verdict"] == "green", before
    locks = _lock_files(lab)
    main_fd, terminal = os.openpty()
    proc = subprocess.Popen(
        [RUN, "failover", "--from", "xcatmn1", "--to", "xcatmn2", "--inventory", str(lab.layout.inventory),
         "--report-dir", str(tmp_path / "runs")], stdin=terminal, stdout=terminal, stderr=terminal,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C reaches it (cleanup below)
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = read_until(main_fd, lambda _: all(p.exists() for p in locks.values()) or proc.poll() is not None, 60)
        assert proc.poll() is None, shown
        held = LockInfo.from_text(locks["xcatmn1"].read_text())
        assert held is not None and held.pid == proc.pid  # the live run's own lock, not one we wrote

        during = drift_proc(lab, root)
        latest = json.loads((root / "latest.json").read_text())
        assert during.returncode == 0, during.stdout + during.stderr
        line = (f"drift: failover in progress (run {held.run_id}, failover, {held.owner}, since {held.started_at}): "
                "not judged")  # fmt: skip
        assert line in during.stdout.splitlines()[-1], during.stdout
        assert "report:" not in during.stdout  # no check ran
        assert latest["verdict"] == "in-progress" and latest["exit_status"] == 0
        assert latest["run_lock"]["run_id"] == held.run_id and latest["run_lock"]["pid"] == proc.pid
        assert sorted(latest["run_lock"]["found_on"]) == sorted(locks)
        assert latest["checks"] == {} and latest["changes"]["previous_run_id"] == before["run_id"]
        assert (root / "index.html").read_text().count("FAILOVER IN PROGRESS") >= 2  # the top box and its row
        found = metrics(root)
        cluster = (("cluster", latest["cluster"]),)
        assert found[("xcatha_failover_in_progress", cluster)] == 1.0
        assert not any(name == "xcatha_check_ok" for name, _ in found)

        os.write(main_fd, b"n\n")  # No at the first question: nothing was changed
        rest = read_until(main_fd, lambda _: proc.poll() is not None, 60)
        assert proc.wait(timeout=60) == 1, rest  # the terminal closes a moment before the process ends
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # its finally releases the locks
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        os.close(main_fd)
        for path in locks.values():  # a run killed above leaves its locks: the lab is shared
            text = path.read_text() if path.exists() else ""
            if (info := LockInfo.from_text(text)) is not None and info.pid == proc.pid:
                path.unlink()
    assert not any(p.exists() for p in locks.values())  # released by the run itself
    assert lab.holds_vip("xcatmn1") and not lab.holds_vip("xcatmn2")

    status, after = drift(lab, root)
    assert status == 0 and after["verdict"] == "green", after
    assert after["changes"]["previous_run_id"] == before["run_id"]  # compared with the last judged run
    assert metrics(root)[("xcatha_failover_in_progress", cluster)] == 0.0


def test_a_stale_lock_of_a_killed_run_is_passed_over(lab: Lab, tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid is free, as a killed xcatha-run's is
    # Taken just now, on this host: only its dead pid makes it stale, not its age.
    stale = LockInfo("root@xcatmn1", socket.gethostname(), gone.pid, "failover", "20260101T000000-failover",
                     datetime.now().astimezone().isoformat(timespec="seconds"))  # fmt: skip
    lock = lab.path("xcatmn1", NODE_LOCK)
    lab.write("xcatmn1", NODE_LOCK, stale.to_text(), mode=0o600)
    try:
        proc = drift_proc(lab, tmp_path / "drift")
    finally:
        lock.unlink(missing_ok=True)
    latest = json.loads((tmp_path / "drift" / "latest.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert latest["verdict"] == "green" and latest["run_lock"] is None
    expected = f"stale run lock passed over: run {stale.run_id}, failover, root@xcatmn1"
    assert f"drift: {expected}" in proc.stdout and latest["note"].startswith(expected)
    assert f"(pid {gone.pid} is not running on this host)" in latest["note"]
