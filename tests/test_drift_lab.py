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

    faults.inject(lab, "service-enabled", "xcatmn2")
    try:
        status, latest = drift(lab, root)
    finally:
        faults.repair(lab, "service-enabled", "xcatmn2")
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
    faults.inject(lab, "link-down", "xcatmn2")
    try:
        status, latest = drift(lab, root)
    finally:
        faults.repair(lab, "link-down", "xcatmn2")
    assert status == 3
    assert latest["nodes"]["xcatmn2"]["reachable"] is False
    assert "UNREACHABLE" in (root / "index.html").read_text()
