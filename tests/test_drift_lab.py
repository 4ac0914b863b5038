"""Drift reports on the real lab: green, a fault on the standby newly failing, then resolved; the metrics agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from xcatha_verify.lab import faults
from xcatha_verify.lab.lab import Lab

pytestmark = pytest.mark.lab
VERIFY = str(Path(sys.executable).parent / "xcatha-verify")


def drift(lab: Lab, root: Path) -> tuple[int, dict]:
    proc = subprocess.run(
        [VERIFY, "--inventory", str(lab.layout.inventory), "drift", "--report-dir", str(root), "--keep-days", "30"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
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
