"""The lab itself, proven on the real thing: namespaces, sshd, PostgreSQL, storage, faults, teardown."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import testinfra
import yaml

from tests.observe import INSIDE_KEYS, psql_via_vip, role_problems, snapshot, ssh
from xcatha_verify import vip as vipmod
from xcatha_verify.errors import LabUnsupported, UsageError
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab import faults
from xcatha_verify.lab import snapshot as kept_setup
from xcatha_verify.lab.lab import Lab, preflight
from xcatha_verify.lab.layout import DB_NAME, DB_USER, SERVICES, SHARED_PATHS, STATE_ROOT, LabLayout
from xcatha_verify.lab.node import cgroup2_root

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
        try:
            cgroup = (proc / "cgroup").read_text()
            ended = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if ended:  # a zombie has ended already; reaping it is its parent's job (the machine's init)
            continue
        if str(layout.base) in cmdline or f"/{layout.tag}-" in cgroup:
            found.append(f"process {proc.name}: {cmdline[:120]}")
    cgroups = cgroup2_root()
    found += [f"cgroup {p}" for p in cgroups.iterdir() if p.name.startswith(f"{layout.tag}-")]
    found += [f"file {p}" for p in (layout.state_file, layout.base) if p.exists()]
    return found


# ---------------------------------------------------------------------------------------------- after up
def test_after_up_xcatmn1_is_active_and_xcatmn2_standby(lab: Lab) -> None:
    assert role_problems(lab, active="xcatmn1") == []
    status = lab.status()
    active, standby = status["nodes"]["xcatmn1"], status["nodes"]["xcatmn2"]
    assert active["vip"] and not standby["vip"]
    assert active["shared_storage"] == list(SHARED_PATHS)
    assert standby["shared_storage"] == []
    # conserver is the console lock's choice, so goconserver stays stopped.
    running = {s for s, state in active["services"].items() if state == "active"}
    assert running == set(SERVICES) - {"goconserver"}
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
        # The node's PID 1 is the real systemd, booted to the end, with its own boot and machine ids.
        assert lab.run(node, ["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
        assert lab.run(node, ["systemctl", "is-system-running"], check=False).stdout.strip() == "running"
        assert lab.path(node, "/etc/machine-id").read_text() != Path("/etc/machine-id").read_text()
        # sshd is a unit of that systemd (not a process beside it), and no Debian cluster 15/main exists.
        sshd_pid = lab.systemctl(node, "show", "-p", "MainPID", "--value", "sshd").stdout.strip()
        assert lab.run(node, ["cat", f"/proc/{sshd_pid}/cgroup"]).stdout.strip().endswith("/sshd.service")
        assert lab.systemctl(node, "list-units", "--all", "--plain", "--no-legend", "postgresql@*").stdout == ""
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
        # Real systemd: starting a running unit succeeds (what makes a resumed "start" step safe).
        assert lab.systemctl("xcatmn2", "start", "goconserver", check=False).returncode == 0
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
    psql_via_vip(lab, f"INSERT INTO site (key, value) VALUES ('lab-test', '{token}')", from_node="xcatmn2")
    lab.run("xcatmn1", ["chdef", "-t", "network", "-o", lab.mgt_network_name, "usercomment=written-on-xcatmn1"])
    try:
        lab.deactivate("xcatmn1")
        assert not lab.holds_vip("xcatmn1")
        assert lab.status()["nodes"]["xcatmn1"]["shared_storage"] == []
        lab.activate("xcatmn2")
        assert lab.holds_vip("xcatmn2")
        assert psql_via_vip(lab, "SELECT value FROM site WHERE key = 'lab-test'", from_node="xcatmn1") == token
        assert "usercomment=written-on-xcatmn1" in lab.run(
            "xcatmn2", ["lsdef", "-t", "network", "-o", lab.mgt_network_name]
        ).stdout
        assert lab.run("xcatmn2", ["systemctl", "is-active", "postgresql"], check=False).stdout.strip() == "active"
        assert "xcatmn2" in lab.run("xcatmn2", ["hostname"]).stdout
    finally:
        if lab.holds_vip("xcatmn2"):
            lab.deactivate("xcatmn2")
        lab.activate("xcatmn1")
        psql_via_vip(lab, "DELETE FROM site WHERE key = 'lab-test'", from_node="xcatmn2")
        lab.run("xcatmn1", ["chdef", "-t", "network", "-o", lab.mgt_network_name, "usercomment="])
    assert lab.holds_vip("xcatmn1") and not lab.holds_vip("xcatmn2")


# ---------------------------------------------------------------------------------------------- faults
# fault, node, what the snapshot of that node must show changed (and nothing else anywhere)
FAULT_CASES = [
    ("vip-also", "xcatmn2", {"vip"}),
    # Losing storage under running services: systemd still sees PostgreSQL run (its open files keep the
    # lazily unmounted storage alive), while xcatd no longer finds cfgloc.
    ("storage-disconnected", "xcatmn1", {"storage", "xcatd_answers", "pg_data_version"}),
    ("service-enabled", "xcatmn2", {"enabled"}),
    ("storage-also", "xcatmn2", {"storage", "pg_data_version"}),
    ("storage-claimed", "xcatmn2", {"storage", "pg_data_version", "storage_record"}),
    ("port-held", "xcatmn2", {"xcatd_port_listening"}),
    ("pg-listen-missing", "xcatmn2", {"pg_listen"}),
    ("pg-hba-missing", "xcatmn1", {"pg_hba"}),
    # postgresql.conf untouched or put right: only the running server's sockets say what is wrong.
    ("pg-listen-command-line", "xcatmn1", {"pg_listening"}),
    ("pg-listen-not-applied", "xcatmn1", {"pg_listening"}),
    ("dhcpd-foreign-config", "xcatmn1", {"dhcpd_conf_is_xcats"}),
    ("named-foreign-config", "xcatmn1", {"named_answers"}),
    ("httpd-port-changed", "xcatmn1", {"http_listening"}),
    ("console-both", "xcatmn1", {"active"}),
    ("pg-hba-rejects", "xcatmn1", {"pg_hba_rejects"}),
    ("pg-data-version-differs", "xcatmn1", {"pg_data_version"}),
    ("hosts-differ", "xcatmn2", {"hosts"}),
    ("hosts-stale-address", "xcatmn2", {"hosts"}),
    ("xcat-version-differs", "xcatmn2", {"xcat_version"}),
    ("clock-skew", "xcatmn2", {"clock_skewed"}),
    ("xcatd-hung", "xcatmn1", {"xcatd_answers"}),
    ("pg-cannot-start", "xcatmn2", {"pg_socket_dir_ok"}),
    # A named started by hand on the standby answers, too: that is what makes it harmful.
    ("daemon-by-hand", "xcatmn2", {"named_processes", "named_answers"}),
    # An unreachable sshd also leaves the node's clock (as root's session reads it) unknown.
    ("sshd-down", "xcatmn2", {"sshd_answers", "clock_skewed"}),
    ("link-down", "xcatmn2", {"link_up", "sshd_answers", "clock_skewed"}),
    ("unreachable", "xcatmn1", {"link_up", "sshd_answers", "clock_skewed"}),
    # A frozen or crashed node tells nothing from inside; from outside, sshd is silent.
    ("node-hung", "xcatmn1", {*INSIDE_KEYS, "power", "sshd_answers"}),
    ("node-crashed", "xcatmn2", {*INSIDE_KEYS, "power", "sshd_answers", "link_up"}),
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
    proc = subprocess.Popen([str(BIN / "xcatha-lab"), "--name", name, "up"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Kill it mid-build, once a node runs (its systemd outlives the killed command).
        probe = Lab(layout)
        while time.monotonic() < deadline and not probe.any_node_on():
            time.sleep(0.05)
        assert probe.any_node_on(), "the build never started its nodes"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _traces(layout) != []
    finally:
        _xcatha_lab("--name", name, "down")
    assert _traces(layout) == []
    assert not (STATE_ROOT / f"{name}.json").exists()


# ---------------------------------------------------------------------------------------------- boot and power
def _wait_standby_green(lab: Lab, node: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "xcatha-verify"), "--inventory", str(lab.layout.inventory), "--node", node, "standby",
         "--report-dir", str(tmp_path), "--format", "json"], capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_enablement_survives_a_reboot_and_disabled_units_stay_down(lab: Lab, tmp_path: Path) -> None:
    # chronyd: a unit whose configuration the standby has (named would fail there without makedns).
    lab.systemctl("xcatmn2", "enable", "chronyd")
    try:
        lab.reboot("xcatmn2")
        assert lab.systemctl("xcatmn2", "is-active", "chronyd", check=False).stdout.strip() == "active"
        verify = _wait_standby_green(lab, "xcatmn2", tmp_path)
        assert verify.returncode == 1
        failed = [r for r in json.loads(next(tmp_path.glob("*.json")).read_text())["results"]
                  if r["outcome"] == "failed"]  # fmt: skip
        assert {r["check_id"] for r in failed} == {"services.disabled_at_boot", "services.stopped"}
        assert "chronyd" in next(r for r in failed if r["check_id"] == "services.disabled_at_boot")["observed"]
    finally:
        lab.systemctl("xcatmn2", "disable", "chronyd")
    lab.reboot("xcatmn2")
    assert lab.systemctl("xcatmn2", "is-active", "chronyd", check=False).stdout.strip() == "inactive"
    # journald kept both boots in the node's own journal.
    boots = lab.run("xcatmn2", ["journalctl", "--list-boots", "--no-pager", "-q"]).stdout.strip().splitlines()
    assert len(boots) >= 3


def test_standby_reboot_brings_back_its_static_ip_and_nothing_else(lab: Lab, tmp_path: Path) -> None:
    lab.vip_up("xcatmn2")  # as if it had been active: the VIP is non-persistent and must not come back
    lab.reboot("xcatmn2")
    addresses = vipmod.addresses(lab.layout.interface, netns=lab.layout.node_ns("xcatmn2"))
    assert [(str(a.address), a.prefix) for a in addresses if a.address.version == 4] == [
        (str(lab.layout.static_ip("xcatmn2")), lab.layout.prefix)
    ]
    assert lab.status()["nodes"]["xcatmn2"]["shared_storage"] == []
    # The boot-time network unit (test equipment) did it, from the node's ifcfg file.
    log = lab.run("xcatmn2", ["journalctl", "-b", "-u", "xcatha-lab-network", "--no-pager", "-q"]).stdout
    assert f"{lab.layout.static_ip('xcatmn2')}/{lab.layout.prefix}" in log
    assert lab.systemctl("xcatmn2", "is-active", "sshd").stdout.strip() == "active"
    verify = _wait_standby_green(lab, "xcatmn2", tmp_path)
    assert verify.returncode == 0, verify.stdout
    assert role_problems(lab, active="xcatmn1") == []


def test_boot_applies_the_ifcfg_rules_the_check_judges(lab: Lab) -> None:
    ifcfg = f"/etc/sysconfig/network-scripts/ifcfg-{lab.layout.interface}"
    original = lab.path("xcatmn2", ifcfg).read_text()
    lab.write("xcatmn2", ifcfg, original.replace('BOOTPROTO="static"', 'BOOTPROTO="dhcp"'))
    try:
        lab.reboot("xcatmn2")
        addresses = vipmod.addresses(lab.layout.interface, netns=lab.layout.node_ns("xcatmn2"))
        assert [a for a in addresses if a.address.version == 4] == []  # no static address from a dhcp file
        # The check, run on the node itself (its SSH address is gone), judges the same file the same way.
        failing = lab.run("xcatmn2", [str(BIN / "xcatha-verify"), "standby", "-k", "static_ip_persistent",
                                      "--report-dir", "/tmp/xcatha-reports"], check=False, timeout=120)  # fmt: skip
        assert failing.returncode == 1, failing.stdout
        assert "net.static_ip_persistent" in failing.stdout and "BOOTPROTO=dhcp" in failing.stdout
    finally:
        lab.write("xcatmn2", ifcfg, original)
        lab.reboot("xcatmn2")
    assert role_problems(lab, active="xcatmn1") == []


def test_power_commands_and_a_crashed_node(lab: Lab) -> None:
    name = ["--name", lab.layout.name]
    assert _xcatha_lab(*name, "power", "status", "xcatmn2").stdout.strip() == "xcatmn2: on"
    faults.inject(lab, "node-crashed", "xcatmn2")
    assert _xcatha_lab(*name, "power", "status", "xcatmn2").stdout.strip() == "xcatmn2: off"
    assert "power off" in _xcatha_lab(*name, "status").stdout
    assert not lab.machine("xcatmn2").cgroup.exists()
    assert ssh(lab, "xcatmn2", "true", timeout=20).returncode == 255
    assert "xcatmn2: off (it was off already)" in _xcatha_lab(*name, "power", "off", "xcatmn2").stdout
    assert "booted" in _xcatha_lab(*name, "power", "on", "xcatmn2").stdout
    assert ssh(lab, "xcatmn2", "systemctl is-system-running").stdout.strip() == "running"
    assert "rebooted in" in _xcatha_lab(*name, "reboot", "xcatmn2").stdout
    assert role_problems(lab, active="xcatmn1") == []


def test_second_lab_starts_from_the_kept_set_up_and_down_after_a_crash_without_state_leaves_nothing(
    lab: Lab, tmp_path: Path
) -> None:
    """xCAT's one-time set-up is kept per layout (snapshot.py): a second lab unpacks it, with secrets of its own.

    The same lab then has a node crashed, the other hung and its state file lost, and `down` still
    leaves nothing (one lab for both: each up costs a dozen seconds).
    """
    kept = kept_setup.path_for(lab.layout)  # the session lab's layout: its set-up is kept by now
    assert kept.is_file() and kept.stat().st_mode & 0o777 == 0o600  # it holds xCAT's CA key
    saved_at = kept.stat().st_mtime_ns
    with tarfile.open(kept) as archive:
        names = archive.getnames()
    assert "shared/etc-xcat/cfgloc" not in names and "shared/etc-xcat/.xcatha-storage-id" not in names
    assert "node/home/conserver/.xcat/client-cert.pem" in names and "node/etc/hosts" in names
    name = f"{lab.layout.name}d"
    layout = LabLayout(name)  # the session lab's subnet: labs are apart by name
    _xcatha_lab("--name", name, "up")
    try:
        second = Lab.load(name)
        assert kept.stat().st_mtime_ns == saved_at  # unpacked, not made again
        assert second.db_password != lab.db_password
        assert second.state["storage_id"] != lab.state["storage_id"]
        cfgloc = second.layout.shared_dir("/etc/xcat") / "cfgloc"
        assert cfgloc.read_text().endswith(f"|{second.db_password}\n") and cfgloc.stat().st_mode & 0o777 == 0o600
        # The rows xCAT's set-up wrote, read by the real xcatd through the new password.
        site = second.run("xcatmn1", ["lsdef", "-t", "site", "-i", "master"], input_text="").stdout
        assert f"master={second.layout.vip}" in site
        cn2 = second.run("xcatmn1", ["lsdef", "cn2"], input_text="").stdout
        assert "ip=" + str(second.layout.compute_ip("cn2")) in cn2
        for node in ("xcatmn1", "xcatmn2"):  # both nodes have what xCAT's set-up leaves on a node
            owner = second.run(node, ["stat", "-c", "%U", "/home/conserver/.xcat/client-cert.pem"], check=False)
            assert owner.stdout.strip() == "conserver", owner.stderr
            assert "cn1" in second.path(node, "/etc/hosts").read_text()
        argv = [str(BIN / "xcatha-verify"), "--inventory", str(second.layout.inventory), "--report-dir",
                str(tmp_path), "--node", "xcatmn1", "active"]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        faults.inject(second, "node-crashed", "xcatmn1")
        faults.inject(second, "node-hung", "xcatmn2")
        layout.state_file.unlink()
        assert _traces(layout) != []
    finally:
        down = _xcatha_lab("--name", name, "down")
    assert "no state file" in down.stdout
    assert _traces(layout) == []
