"""xCAT 2.19 itself in both nodes, on the shared PostgreSQL: failovers there and back, xCAT's view after each.

Its own lab (the session lab's layout under another name: labs never share anything but the kept
xCAT set-up): these tests move the pair three times there and back and stop xcatd and the database.
(A second lab unpacking the kept set-up is test_lab's.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observe import cluster_view, psql_via_vip, role_problems
from tests.run_page import assert_page_window_matches_journal
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab.fixture import SESSION_LAB, own_lab
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import VIP_HOSTNAME, LabLayout
from xcatha_verify.runbook_engine import loading

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent
NODES = ("xcatmn1", "xcatmn2")
XCAT_CHECKS = "cfgloc or xcatd_answers or site_master or mgtifname or policy_trusts"  # -k: the xcat.* checks' functions


@pytest.fixture(scope="module")
def xlab() -> Iterator[Lab]:
    yield from own_lab(LabLayout(f"{SESSION_LAB}x"))


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


def test_planned_failover_there_and_back_three_times_with_real_xcat(xlab: Lab, tmp_path: Path) -> None:
    # From the second time there, with xcatha.py's extras on (hostname and resolv.conf follow the VIP):
    # they ride on these failovers rather than on two more of their own.
    extras = tmp_path / "inventory-extras.yml"
    extras.write_text(xlab.layout.inventory.read_text() + "vip_hostname: true\nvip_nameserver: true\n")
    resolv = {n: xlab.path(n, "/etc/resolv.conf").read_text() for n in NODES}
    ha_mn = xlab.layout.shared_dir("/etc/xcat") / "ha_mn"
    expected_view = {"dhcp": str(xlab.layout.compute_ip("cn1")),
                     "dns": {name: [str(xlab.layout.compute_ip(name))] for name in ("cn1", "cn2")},
                     "http": f"xcatha-lab {xlab.layout.name} /install\n",
                     "tftp": f"xcatha-lab {xlab.layout.name} /tftpboot\n"}  # fmt: skip
    lock = xlab.layout.shared_dir("/etc/xcat") / "console.lock"
    # Rows of a table of our own, written through the VIP before each failover: none may be lost.
    psql_via_vip(xlab, "CREATE TABLE IF NOT EXISTS failover_rows (round int, token text)", "xcatmn2")
    written: list[str] = []
    # The cluster's view before: cn1 gets its fixed address from the active node's dhcpd, the VIP's
    # named answers the compute nodes' names, httpd serves /install and tftp /tftpboot through the VIP.
    assert cluster_view(xlab) == expected_view
    try:
        for n, (source, target) in enumerate([("xcatmn1", "xcatmn2"), ("xcatmn2", "xcatmn1")] * 3, 1):
            if n == 1:  # a pair that never ran xcatha.py: no lock; deactivation writes it from what runs
                lock.unlink()
            if n == 2:  # no lock and no console server running: the choice falls to xCAT's default
                lock.unlink()
                xlab.systemctl(source, "stop", "conserver")
            token = f"from-{source}-{time.time_ns()}"
            assert _xcat(xlab, source, "chdef", "-t", "node", "-o", "cn1", f"usercomment={token}").returncode == 0
            psql_via_vip(xlab, f"INSERT INTO failover_rows VALUES ({n}, '{token}')", target)
            written.append(token)
            inventory = extras if n >= 3 else xlab.layout.inventory
            _failover(xlab, source, target, tmp_path / f"run-{n}", inventory)
            if n >= 3:  # the active node carries the VIP's name and asks the VIP's named first; the other its own
                assert _hostname(xlab, target) == VIP_HOSTNAME and _hostname(xlab, source) == source
                assert ha_mn.read_text() == f"{target}\n"
                nameserver = f"nameserver {xlab.layout.vip}\n"
                # Written once: activating a node a second time (round 5) finds the line there, adds nothing.
                assert xlab.path(target, "/etc/resolv.conf").read_text() == nameserver + resolv[target]
            console = "conserver" if n == 1 else "goconserver"  # see below
            assert role_problems(xlab, active=target, console=console) == []  # every unit disabled at boot
            if n == 1:
                assert lock.read_text() == "conserver\n"
            if n == 3:  # deactivation recorded the console server that ran
                assert lock.read_text() == "goconserver\n"
            if n == 2:
                journal = json.loads(next((tmp_path / "run-2").glob("*/journal.json")).read_text())
                record = next(s for s in journal["steps"] if s["name"].startswith("record the running console"))
                assert "no console server runs: console.lock left as it is" in record["output_tail"], record
                assert not lock.exists()
            rows = psql_via_vip(xlab, "SELECT token FROM failover_rows ORDER BY token", source).split()
            assert rows == sorted(written)
            run_dir = tmp_path / f"run-{n}" / _run_id(tmp_path / f"run-{n}")
            # Its page marks the outage as its journal's steps put it: stop xcatd here to start xcatd there.
            begin, end = assert_page_window_matches_journal(run_dir)
            assert 0 < begin < end
            assert f"from stop xcatd on {source} to start xcatd on {target}." in (run_dir / "index.html").read_text()
            # Before PostgreSQL started on it, the report says how the deactivation left the data directory.
            assert _gate_observed(tmp_path / f"run-{n}", "pg.data_dir_state")[0] == "cluster state 'shut down'; " \
                "no postmaster.pid"
            # Real lsdef and tabdump on the new active node read what was written before the failover.
            assert f"usercomment={token}" in _xcat(xlab, target, "lsdef", "-t", "node", "-o", "cn1").stdout
            assert token in _xcat(xlab, target, "tabdump", "nodelist").stdout
            # The console server the procedure chose runs on the new active node: conserver as console.lock
            # said; from the second round, with no lock, xCAT's default where goconserver is installed (the
            # lab's stand-in), set up by the real makegocons through its REST API, then recorded in the lock.
            other = {"conserver": "goconserver", "goconserver": "conserver"}[console]
            assert xlab.systemctl(target, "is-active", console, check=False).stdout.strip() == "active"
            assert xlab.systemctl(target, "is-active", other, check=False).stdout.strip() != "active"
            if console == "goconserver":
                listed = _xcat(xlab, target, "makegocons", "-q").stdout
                assert all(f"{cn}" in listed and "not connected" in listed for cn in ("cn1", "cn2")), listed
            # The cluster follows the VIP: DHCP, DNS, HTTP and TFTP now come from the new active node.
            assert cluster_view(xlab) == expected_view, f"after failover {n} to {target}"
            drift = subprocess.run(
                [str(BIN / "xcatha-verify"), "--inventory", str(inventory), "drift", "--report-dir",
                 str(tmp_path / "drift"), "--format", "json"], capture_output=True, text=True, check=False,
                timeout=300,
            )  # fmt: skip
            assert drift.returncode == 0, drift.stdout
    finally:  # back to the lab's console server (conserver, as console.lock says), names and resolvers
        lock.write_text("conserver\n")
        for node in NODES:
            xlab.run(node, ["hostname", node])
            xlab.write(node, "/etc/resolv.conf", resolv[node])
        ha_mn.unlink(missing_ok=True)
        active = _active_node(xlab)
        xlab.systemctl(active, "stop", "goconserver")
        xlab.systemctl(active, "start", "conserver")


def test_table_reads_through_our_client_match_xcats_own(xlab: Lab) -> None:
    # xcatha_verify.xcatclient (the benchmark's prober) asks the real xcatd as xCAT's own clients do.
    ours = xlab.run("xcatmn1", [sys.executable, "-m", "xcatha_verify.xcatclient", "tabdump", "site", "networks"],
                    check=False, timeout=60)  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    answers = [json.loads(line) for line in ours.stdout.splitlines()]
    for answer, table in zip(answers, ("site", "networks"), strict=True):
        assert answer["rc"] == 0 and answer["complete"], answer
        assert answer["data"] == _xcat(xlab, "xcatmn1", "tabdump", table).stdout.splitlines()


def test_xcatd_check_names_the_database_or_xcatd_when_one_is_down(xlab: Lab, tmp_path: Path) -> None:
    def xcat_checks() -> tuple[int, dict[str, dict[str, str]]]:
        base = tmp_path / f"run-{time.time_ns()}"
        proc = subprocess.run(
            [str(BIN / "xcatha-verify"), "--inventory", str(xlab.layout.inventory), "--node", "xcatmn1",
             "post-activate", "-k", XCAT_CHECKS, "--report-dir", str(base), "--format", "json"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        summary = json.loads(next(base.glob("*.json")).read_text())
        # Every report records the checked node's xCAT version.
        assert summary["environment"]["xcat_version"]["xcatmn1"] == "2.19.0 (git commit 7733d16)"
        return proc.returncode, {r["check_id"]: r for r in summary["results"]}

    status, results = xcat_checks()
    assert status == 0 and {r["outcome"] for r in results.values()} == {"passed"}, results
    assert set(results) == {"xcat.cfgloc", "xcat.xcatd", "xcat.site_master", "xcat.mgtifname", "xcat.policy"}
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
    for content in ("xcat.site_master", "xcat.policy", "xcat.mgtifname"):  # read from the database itself
        assert results[content]["outcome"] == "failed", results[content]
        assert "the database is the cause" in results[content]["observed"], results[content]
    # Real xcatd comes back by itself once its database answers again.
    deadline = time.monotonic() + 60
    while (status := xcat_checks()[0]) != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert status == 0
    # xcatd stopped instead: the database answers, so the check names xcatd.
    xlab.systemctl("xcatmn1", "stop", "xcatd")
    try:
        started = time.monotonic()
        status, results = xcat_checks()
        took = time.monotonic() - started
    finally:
        xlab.systemctl("xcatmn1", "start", "xcatd")
    xcatd = results["xcat.xcatd"]
    assert status == 1 and xcatd["outcome"] == "failed", xcatd
    assert "lsxcatd -a: exit 111" in xcatd["observed"] and "database is the cause" not in xcatd["observed"]
    # The tables' contents come from the database, which answers: only xcatd's own check fails.
    assert {i for i, r in results.items() if r["outcome"] != "passed"} == {"xcat.xcatd"}, results
    assert xcatd["fix"].startswith("systemctl restart xcatd")
    assert took < 60  # within the checks' bound (8 s an xCAT command), not xCAT's own retries


def _active_node(lab: Lab) -> str:
    return next(n for n in NODES if lab.systemctl(n, "is-active", "xcatd", check=False).stdout.strip() == "active")


def _gate_observed(report_dir: Path, check_id: str) -> list[str]:
    """What `check_id` observed in each gate of the run under `report_dir`, in the order the gates ran."""
    gates = sorted(report_dir.glob("*/gates/*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [r["observed"] for p in gates for r in json.loads(p.read_text())["results"] if r["check_id"] == check_id]


def _run_id(report_dir: Path) -> str:
    return str(json.loads(next(report_dir.glob("*/journal.json")).read_text())["run_id"])


def _hostname(lab: Lab, node: str) -> str:
    return lab.run(node, ["hostname"]).stdout.strip()


def _failover(
    lab: Lab, source: str, target: str, report_dir: Path, inventory: Path
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
         str(inventory), "--report-dir", str(report_dir)],
        capture_output=True, text=True, check=False, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_start_xcatd_is_bounded_when_its_database_does_not_answer(xlab: Lab) -> None:
    active = _active_node(xlab)
    inventory = load_inventory(xlab.layout.inventory)
    book = loading.load_for("activate", inventory, inventory.node(active))
    step = next(s for p in book.phases for s in p.steps if s.name == "start xcatd")
    assert step.command is not None and step.command[-2:] == ("60", "xcatd")
    bounded = [*step.command[:-2], "5", "xcatd"]  # the runbook's own command, with a 5 s bound for the test
    xlab.systemctl(active, "stop", "xcatd")
    xlab.systemctl(active, "stop", "postgresql")
    try:
        started = time.monotonic()
        proc = xlab.run(active, bounded, check=False, timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == 124, proc.stdout + proc.stderr
        assert "xcatd did not start within 5 s and was stopped" in proc.stderr
        assert took < 30  # 5 s, then the stop
        # No start job left behind: xcatd is not still "activating" towards a database that is not there.
        assert xlab.systemctl(active, "is-active", "xcatd", check=False).stdout.strip() in ("inactive", "failed")
    finally:
        xlab.systemctl(active, "start", "postgresql")
        xlab.systemctl(active, "start", "xcatd")
    assert role_problems(xlab, active=active) == []


def test_prepare_puts_back_site_master_and_the_policy_row_with_a_backup(xlab: Lab, tmp_path: Path) -> None:
    active = _active_node(xlab)
    vip = str(xlab.layout.vip)

    def prepare() -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "xcatha-run"), "prepare", "--node", active, "--yes", "--inventory", str(xlab.layout.inventory),
             "--report-dir", str(tmp_path)], capture_output=True, text=True, check=False, timeout=600,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    policy = _xcat(xlab, active, "tabdump", "policy").stdout
    assert '"1.2","xcatmn1",,,,,,"trusted"' in policy  # xcatconfig's row for the certificate's CN
    # Drift: the site's master names a node, and the certificate's CN lost its policy row.
    static = str(xlab.layout.static_ip(active))
    assert _xcat(xlab, active, "chdef", "-t", "site", "-o", "clustersite", f"master={static}").returncode == 0
    assert _xcat(xlab, active, "chtab", "-d", "priority=1.2", "policy").returncode == 0
    first = prepare()
    assert f"$ chdef -t site -o clustersite master={vip}" in first.stdout
    assert "$ chtab priority=1.2 policy.name=xcatmn1 policy.rule=trusted" in first.stdout
    assert "backup: /etc/xcat/policy.csv.xcatha-" in first.stdout and "restore: tabrestore" in first.stdout
    assert f'-"master","{static}",,' in first.stdout and f'+"master","{vip}",,' in first.stdout  # the diff
    backups = sorted(xlab.layout.shared_dir("/etc/xcat").glob("site.csv.xcatha-*"))
    assert backups and f'"master","{static}"' in backups[-1].read_text()  # the table as it was
    assert f"master={vip}" in _xcat(xlab, active, "lsdef", "-t", "site", "-i", "master").stdout
    assert '"1.2","xcatmn1",,,,,,"trusted"' in _xcat(xlab, active, "tabdump", "policy").stdout
    second = prepare()
    assert "the policy table already trusts xcatmn1" in second.stdout
    assert "the site table's master (and nameservers) already name the VIP" in second.stdout
