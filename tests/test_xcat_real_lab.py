"""The lab's "real" flavour: xCAT 2.19 itself (from its source) in both nodes, on the shared PostgreSQL.

Its own lab, on another TEST-NET subnet: the session's lab runs the stand-ins, and a lab's xCAT
flavour is chosen when it is built. The rest of the suite still runs on the stand-ins; here the
checks, the runbooks and the observer meet the real xcatd and its commands.
"""

from __future__ import annotations

import ipaddress
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
