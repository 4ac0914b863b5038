"""The lab itself, proven on the real thing: namespaces, sshd, PostgreSQL, storage, faults, teardown."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import yaml

from tests.observe import snapshot
from xcatha_verify import vip as vipmod
from xcatha_verify.errors import LabUnsupported, UsageError
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab import faults
from xcatha_verify.lab.lab import Lab, preflight
from xcatha_verify.lab.layout import DB_NAME, DB_USER, SERVICES, SHARED_PATHS, STATE_ROOT, LabLayout

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent


def _xcatha_lab(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "xcatha-lab"), *args], capture_output=True, text=True, check=check, timeout=120)


def _traces(layout: LabLayout) -> list[str]:
    """Everything of a lab still on the machine: namespaces, mounts, processes, files."""
    found = []
    netns = Path("/run/netns")
    if netns.is_dir():
        found += [f"netns {p.name}" for p in netns.iterdir() if p.name.startswith(f"{layout.tag}-")]
    found += [f"mount {line.split()[4]}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if str(layout.base) in line or f"{layout.tag}-" in line]  # fmt: skip
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(layout.base) in cmdline or f"--lab {layout.name} " in cmdline:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    found += [f"file {p}" for p in (layout.state_file, layout.base) if p.exists()]
    return found


def _psql_via_vip(lab: Lab, sql: str, from_node: str) -> str:
    """psql on `from_node` (whose static IP pg_hba admits) to the database on the VIP, wherever it is."""
    conninfo = f"host={lab.layout.vip} dbname={DB_NAME} user={DB_USER} connect_timeout=5"
    script = f'PGPASSWORD="$(cat)" exec psql -X -A -t -v ON_ERROR_STOP=1 "{conninfo}" -c "$1"'
    return lab.run(from_node, ["sh", "-c", script, "psql", sql], input_text=lab.db_password).stdout.strip()


# ---------------------------------------------------------------------------------------------- after up
def test_after_up_xcatmn1_is_active_and_xcatmn2_standby(lab: Lab) -> None:
    status = lab.status()
    active, standby = status["nodes"]["xcatmn1"], status["nodes"]["xcatmn2"]
    assert active["vip"] and not standby["vip"]
    assert active["shared_storage"] == list(SHARED_PATHS)
    assert standby["shared_storage"] == []
    # conserver is the console lock's choice, so goconserver stays stopped.
    assert {s for s, state in active["services"].items() if state == "active"} == set(SERVICES) - {"goconserver"}
    assert set(standby["services"].values()) == {"inactive"}
    assert active["enabled_at_boot"] == [] and standby["enabled_at_boot"] == []
    addresses = vipmod.addresses(lab.layout.interface, netns=lab.layout.node_ns("xcatmn1"))
    assert vipmod.Address(lab.layout.vip, lab.layout.prefix, lab.layout.label) in addresses
    cfgloc = lab.path("xcatmn1", "/etc/xcat/cfgloc").read_text()
    assert cfgloc.startswith(f"Pg:dbname={DB_NAME};host={lab.layout.vip}|{DB_USER}|")
    assert not lab.path("xcatmn2", "/etc/xcat/cfgloc").exists()


def test_nodes_have_their_own_namespaces_and_files(lab: Lab) -> None:
    for node in ("xcatmn1", "xcatmn2"):
        assert lab.run(node, ["hostname"]).stdout.strip() == node
        assert lab.run(node, ["sh", "-c", "echo $$"]).stdout.strip() != str(os.getpid())
        assert lab.run(node, ["cat", "/proc/1/cmdline"]).stdout.startswith(sys.executable)
        ifcfg = lab.path(node, "/etc/sysconfig/network-scripts/ifcfg-eth0").read_text()
        assert f'IPADDR="{lab.layout.static_ip(node)}"' in ifcfg
        assert "xcatmn.cluster.test" in lab.path(node, "/etc/hosts").read_text()
        # Root's shell starts as on a fresh Debian install, whatever this machine's /root holds.
        assert lab.path(node, "/root/.bashrc").read_text() == Path("/etc/skel/.bashrc").read_text()
        assert not lab.path(node, "/root/.bash_profile").exists()
    assert not Path("/etc/sysconfig/network-scripts/ifcfg-eth0").exists()
    assert lab.path("xcatmn1", "/etc/hosts").read_text() == lab.path("xcatmn2", "/etc/hosts").read_text()


def test_inventory_of_the_lab_is_valid(lab: Lab) -> None:
    inventory = load_inventory(lab.layout.inventory)
    assert [n.name for n in inventory.nodes] == ["xcatmn1", "xcatmn2"]
    assert str(inventory.vip.address) == str(lab.layout.vip) and inventory.vip.label == lab.layout.label
    assert inventory.ssh_config == str(lab.layout.ssh_config)


# ---------------------------------------------------------------------------------------------- ssh
def test_ssh_with_host_key_checking_and_systemd_backend(lab: Lab) -> None:
    for node in ("xcatmn1", "xcatmn2"):
        host = testinfra.get_host(f"ssh://root@{node}", ssh_config=str(lab.layout.ssh_config))
        assert host.check_output("hostname") == node
        service = host.service("postgresql")
        assert type(service).__name__ == "SystemdService"
        assert service.is_running == (node == "xcatmn1")
        assert not service.is_enabled
    config = lab.layout.ssh_config.read_text()
    assert "StrictHostKeyChecking yes" in config


def test_ssh_refuses_a_node_whose_host_key_changed(lab: Lab, tmp_path: Path) -> None:
    known = (lab.layout.ssh_dir / "known_hosts").read_text().splitlines()
    keys = {line.split()[0]: line.split(None, 1)[1] for line in known}
    swapped = tmp_path / "known_hosts"
    swapped.write_text(f"xcatmn1 {keys['xcatmn2']}\nxcatmn2 {keys['xcatmn1']}\n")
    proc = subprocess.run(
        ["ssh", "-F", str(lab.layout.ssh_config), "-o", f"UserKnownHostsFile={swapped}", "-o", "ControlPath=none",
         "xcatmn1", "true"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 255
    assert "host key" in proc.stderr.lower()


def test_services_start_and_stop_through_systemctl_and_keep_boot_state(lab: Lab) -> None:
    lab.systemctl("xcatmn2", "enable", "named")
    try:
        assert lab.systemctl("xcatmn2", "is-enabled", "named", check=False).stdout.strip() == "enabled"
        # A later, separate systemctl call still sees it: the state lives in the node's unit directory.
        assert lab.run("xcatmn2", ["systemctl", "is-enabled", "named"], check=False).stdout.strip() == "enabled"
        assert lab.systemctl("xcatmn1", "is-enabled", "named", check=False).stdout.strip() == "disabled"
    finally:
        lab.systemctl("xcatmn2", "disable", "named")
    lab.systemctl("xcatmn2", "start", "goconserver")
    try:
        banner = lab.run("xcatmn2", ["python3", "-c", (
            "import socket; print(socket.create_connection(('127.0.0.1', 12430), timeout=5).recv(64).decode())"
        )]).stdout  # fmt: skip
        assert banner.startswith("goconserver")
    finally:
        lab.systemctl("xcatmn2", "stop", "goconserver")
    assert lab.systemctl("xcatmn2", "is-active", "goconserver", check=False).stdout.strip() == "inactive"


# ---------------------------------------------------------------------------------------------- failover
def test_row_written_through_vip_survives_moving_everything_to_xcatmn2(lab: Lab) -> None:
    token = f"row-{time.time_ns()}"
    _psql_via_vip(lab, f"INSERT INTO site (key, value) VALUES ('lab-test', '{token}')", from_node="xcatmn2")
    lab.run("xcatmn1", ["chdef", "-t", "network", "-o", lab.mgt_network_name, "usercomment=written-on-xcatmn1"])
    try:
        lab.deactivate("xcatmn1")
        assert not lab.holds_vip("xcatmn1")
        assert lab.status()["nodes"]["xcatmn1"]["shared_storage"] == []
        lab.activate("xcatmn2")
        assert lab.holds_vip("xcatmn2")
        assert _psql_via_vip(lab, "SELECT value FROM site WHERE key = 'lab-test'", from_node="xcatmn1") == token
        assert "usercomment=written-on-xcatmn1" in lab.run(
            "xcatmn2", ["lsdef", "-t", "network", "-o", lab.mgt_network_name]
        ).stdout
        assert lab.run("xcatmn2", ["systemctl", "is-active", "postgresql"], check=False).stdout.strip() == "active"
        assert "xcatmn2" in lab.run("xcatmn2", ["hostname"]).stdout
    finally:
        if lab.holds_vip("xcatmn2"):
            lab.deactivate("xcatmn2")
        lab.activate("xcatmn1")
        _psql_via_vip(lab, "DELETE FROM site WHERE key = 'lab-test'", from_node="xcatmn2")
        lab.run("xcatmn1", ["chdef", "-t", "network", "-o", lab.mgt_network_name, "usercomment="])
    assert lab.holds_vip("xcatmn1") and not lab.holds_vip("xcatmn2")


# ---------------------------------------------------------------------------------------------- faults
# fault, node, what the snapshot of that node must show changed (and nothing else anywhere)
FAULT_CASES = [
    ("vip-also", "xcatmn2", {"vip"}),
    # Losing storage under running services: PostgreSQL's pid file and xcatd's cfgloc go with it.
    ("storage-disconnected", "xcatmn1", {"storage", "active", "xcatd_answers"}),
    ("service-enabled", "xcatmn2", {"enabled"}),
    ("pg-listen-missing", "xcatmn2", {"pg_listen"}),
    ("pg-hba-missing", "xcatmn1", {"pg_hba"}),
    ("hosts-differ", "xcatmn2", {"hosts"}),
    ("clock-skew", "xcatmn2", {"clock_skewed"}),
    ("xcatd-hung", "xcatmn1", {"xcatd_answers"}),
    ("pg-cannot-start", "xcatmn2", {"pg_socket_dir_ok"}),
    ("sshd-down", "xcatmn2", {"sshd_answers"}),
    ("link-down", "xcatmn2", {"link_up", "sshd_answers"}),
    ("unreachable", "xcatmn1", {"link_up", "sshd_answers"}),
]


def test_every_fault_has_a_case() -> None:
    assert {case[0] for case in FAULT_CASES} == set(faults.FAULTS)


@pytest.mark.parametrize(("fault", "node", "changes"), FAULT_CASES, ids=[f"{c[0]}@{c[1]}" for c in FAULT_CASES])
def test_fault_changes_the_named_node_only_and_repairs(lab: Lab, fault: str, node: str, changes: set[str]) -> None:
    other = "xcatmn2" if node == "xcatmn1" else "xcatmn1"
    before = {n: snapshot(lab, n) for n in ("xcatmn1", "xcatmn2")}
    faults.inject(lab, fault, node)
    try:
        during = {n: snapshot(lab, n) for n in ("xcatmn1", "xcatmn2")}
    finally:
        faults.repair(lab, fault, node)
    changed = {k for k in before[node] if before[node][k] != during[node][k]}
    assert changed == changes
    assert during[other] == before[other]
    assert {n: snapshot(lab, n) for n in ("xcatmn1", "xcatmn2")} == before


def test_fault_cli_injects_and_repairs(lab: Lab) -> None:
    name = ["--name", lab.layout.name]
    listing = _xcatha_lab(*name, "faults").stdout
    assert all(f in listing for f in faults.FAULTS)
    hosts = lab.path("xcatmn2", "/etc/hosts")
    original = hosts.read_text()
    assert "injected hosts-differ on xcatmn2" in _xcatha_lab(*name, "fault", "hosts-differ", "xcatmn2").stdout
    assert hosts.read_text() != original
    _xcatha_lab(*name, "repair", "hosts-differ", "xcatmn2")
    assert hosts.read_text() == original
    bad = _xcatha_lab(*name, "repair", "hosts-differ", "xcatmn2", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_status_inventory_and_shell(lab: Lab) -> None:
    name = ["--name", lab.layout.name]
    assert _xcatha_lab(*name, "inventory").stdout.strip() == str(lab.layout.inventory)
    status = _xcatha_lab(*name, "status").stdout
    assert re.search(r"xcatmn1 \(192\.0\.2\.11\): holds the VIP; shared storage connected", status)
    assert re.search(r"xcatmn2 \(192\.0\.2\.12\): no VIP; shared storage disconnected", status)
    assert json.loads(_xcatha_lab(*name, "status", "--json").stdout)["nodes"]["xcatmn2"]["vip"] is False
    assert _xcatha_lab(*name, "shell", "xcatmn2", "--", "hostname").stdout.strip() == "xcatmn2"


def test_cli_errors_are_one_line_with_status_2(tmp_path: Path) -> None:
    for args in (["--name", "nolab", "status"], ["--name", "Bad Name!", "up"], ["up", "--subnet", "nonsense"]):
        proc = _xcatha_lab(*args, check=False)
        assert proc.returncode == 2, proc
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_without_root_or_namespaces_up_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabUnsupported, match="needs root"):
        preflight()
    assert issubclass(LabUnsupported, UsageError)


# ---------------------------------------------------------------------------------------------- more labs
def test_second_lab_on_another_layout_does_not_collide_and_leaves_no_trace(lab: Lab) -> None:
    name = f"{lab.layout.name}b"
    layout = LabLayout(name, ipaddress.IPv4Network("198.51.100.0/24"), "ens3", "ens3:1")
    before = lab.status()
    up = _xcatha_lab("--name", name, "up", "--subnet", "198.51.100.0/24", "--interface", "ens3", "--label", "ens3:1")
    try:
        assert re.search(rf"lab '{name}' up in \d+\.\ds", up.stdout)
        other = Lab.load(name)
        assert set(other.layout.namespaces).isdisjoint(lab.layout.namespaces)
        inventory = yaml.safe_load(other.layout.inventory.read_text())
        assert inventory["vip"] == {
            "address": "198.51.100.7", "prefix": 24, "interface": "ens3", "label": "ens3:1",
            "hostname": "xcatmn.cluster.test",
        }  # fmt: skip
        addresses = vipmod.addresses("ens3", netns=layout.node_ns("xcatmn1"))
        assert vipmod.Address(layout.vip, 24, "ens3:1") in addresses
        host = testinfra.get_host("ssh://root@xcatmn1", ssh_config=str(other.layout.ssh_config))
        assert host.check_output("ip -br addr show dev ens3").split()[2] == "198.51.100.11/24"
    finally:
        down = _xcatha_lab("--name", name, "down")
    assert re.search(rf"lab '{name}' down in \d+\.\ds", down.stdout)
    assert _traces(layout) == []
    assert lab.status() == before


def test_lab_left_by_a_killed_up_is_cleaned_by_down(lab: Lab) -> None:
    name = f"{lab.layout.name}c"
    layout = LabLayout(name)
    proc = subprocess.Popen([str(BIN / "xcatha-lab"), "--name", name, "up"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Kill it mid-build, once the nodes run (their inits outlive the killed command).
        while time.monotonic() < deadline:
            state = json.loads(layout.state_file.read_text()) if layout.state_file.exists() else {}
            if state.get("pids"):
                break
            time.sleep(0.05)
        assert state.get("pids"), "the build never started its nodes"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _traces(layout) != []
    finally:
        _xcatha_lab("--name", name, "down")
    assert _traces(layout) == []
    assert not (STATE_ROOT / f"{name}.json").exists()
