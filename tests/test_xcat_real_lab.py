"""The lab's "real" flavour: xCAT 2.19 itself (from its source) in both nodes, on the shared PostgreSQL.

Its own lab, on another TEST-NET subnet: the session's lab runs the stand-ins, and a lab's xCAT
flavour is chosen when it is built. The rest of the suite still runs on the stand-ins; here the
checks, the runbooks and the observer meet the real xcatd and its commands.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observe import role_problems
from xcatha_verify.lab.fixture import SESSION_LAB, own_lab
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent
NODES = ("xcatmn1", "xcatmn2")
XCAT_CHECKS = "cfgloc or xcatd_answers or site_master or mgtifname"  # -k: the xcat.* checks' functions


@pytest.fixture(scope="module")
def xlab() -> Iterator[Lab]:
    yield from own_lab(LabLayout(f"{SESSION_LAB}x", ipaddress.IPv4Network("198.51.100.0/24"), xcat="real"))


def _xcat(lab: Lab, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return lab.run(node, list(argv), check=False, input_text="", timeout=120)


def test_the_nodes_run_the_real_xcatd_on_the_shared_database(xlab: Lab) -> None:
    assert role_problems(xlab, active="xcatmn1") == []
    about = _xcat(xlab, "xcatmn1", "lsxcatd", "-a")
    assert about.returncode == 0, about.stderr
    assert "Version 2.19.0" in about.stdout and "This is a Management Node" in about.stdout
    assert f"dbhost={xlab.layout.vip}" in about.stdout
    site = _xcat(xlab, "xcatmn1", "lsdef", "-t", "site", "-i", "master,domain").stdout
    assert f"master={xlab.layout.vip}" in site and "domain=cluster.test" in site
    # xCAT's own unit (xCAT-server's xcatd.service), where its package installs it.
    unit = xlab.systemctl("xcatmn1", "cat", "xcatd").stdout
    assert "/lib/systemd/system/xcatd.service" in unit and "Description=xCAT management service" in unit
    # The lab's DNS stays in the lab: no forwarders (xcatconfig would copy the machine's resolvers).
    assert "forwarders" not in _xcat(xlab, "xcatmn1", "tabdump", "site").stdout
    assert "forwarders" not in xlab.path("xcatmn1", "/etc/bind/named.conf").read_text()
    # The standby has xCAT installed but nothing to talk to: its client says so as real xCAT does.
    down = _xcat(xlab, "xcatmn2", "lsdef", "-t", "site")
    assert down.returncode == 111 and "Unable to open socket connection to xcatd" in down.stdout


def test_planned_failover_there_and_back_with_real_xcat(xlab: Lab, tmp_path: Path) -> None:
    for source, target in (("xcatmn1", "xcatmn2"), ("xcatmn2", "xcatmn1")):
        token = f"from-{source}-{time.time_ns()}"
        assert _xcat(xlab, source, "chdef", "-t", "node", "-o", "cn1", f"usercomment={token}").returncode == 0
        proc = subprocess.run(
            [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
             str(xlab.layout.inventory), "--report-dir", str(tmp_path)],
            capture_output=True, text=True, check=False, timeout=600, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert role_problems(xlab, active=target) == []
        # Real lsdef and tabdump on the new active node read what was written before the failover.
        assert f"usercomment={token}" in _xcat(xlab, target, "lsdef", "-t", "node", "-o", "cn1").stdout
        assert token in _xcat(xlab, target, "tabdump", "nodelist").stdout
        drift = subprocess.run(
            [str(BIN / "xcatha-verify"), "--inventory", str(xlab.layout.inventory), "drift", "--report-dir",
             str(tmp_path / "drift"), "--format", "json"], capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert drift.returncode == 0, drift.stdout


def test_table_reads_through_our_client_match_xcats_own(xlab: Lab) -> None:
    # xcatha_verify.xcatclient (the benchmark's prober) asks the real xcatd as xCAT's own clients do.
    ours = xlab.run("xcatmn1", [sys.executable, "-m", "xcatha_verify.xcatclient", "tabdump", "site", "networks"],
                    check=False, timeout=60)  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    answers = [json.loads(line) for line in ours.stdout.splitlines()]
    for answer, table in zip(answers, ("site", "networks"), strict=True):
        assert answer["rc"] == 0 and answer["complete"], answer
        assert answer["data"] == _xcat(xlab, "xcatmn1", "tabdump", table).stdout.splitlines()


def test_xcatd_check_names_the_database_when_postgresql_is_down(xlab: Lab, tmp_path: Path) -> None:
    def xcat_checks() -> tuple[int, dict[str, dict[str, str]]]:
        base = tmp_path / f"run-{time.time_ns()}"
        proc = subprocess.run(
            [str(BIN / "xcatha-verify"), "--inventory", str(xlab.layout.inventory), "--node", "xcatmn1",
             "post-activate", "-k", XCAT_CHECKS, "--report-dir", str(base), "--format", "json"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        summary = json.loads(next(base.glob("*.json")).read_text())
        return proc.returncode, {r["check_id"]: r for r in summary["results"]}

    status, results = xcat_checks()
    assert status == 0 and {r["outcome"] for r in results.values()} == {"passed"}, results
    assert set(results) == {"xcat.cfgloc", "xcat.xcatd", "xcat.site_master", "xcat.mgtifname"}
    xlab.systemctl("xcatmn1", "stop", "postgresql")
    try:
        status, results = xcat_checks()
    finally:
        xlab.systemctl("xcatmn1", "start", "postgresql")
    assert status == 1
    xcatd = results["xcat.xcatd"]
    assert xcatd["outcome"] == "failed" and "the database is the cause" in xcatd["observed"], xcatd
    assert xcatd["fix"] == "systemctl start postgresql, then systemctl restart xcatd"
    assert results["xcat.cfgloc"]["outcome"] == "passed"  # a file on the shared data: no database needed
    # Real xcatd comes back by itself once its database answers again.
    deadline = time.monotonic() + 60
    while (status := xcat_checks()[0]) != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert status == 0
