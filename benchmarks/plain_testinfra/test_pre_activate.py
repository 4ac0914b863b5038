"""The `pre-activate` checks as a user would write them in plain pytest-testinfra.

benchmarks/verify_speed.py runs this file as its second baseline, one pytest process for both nodes:

    python -m pytest test_pre_activate.py --hosts=ssh://root@xcatmn1,ssh://root@xcatmn2 --ssh-config=CONFIG

One test function per shipped check (checks/*.py), judging what that check judges, parametrised per
service or path where that is natural. Everything goes through testinfra's modules and `host.run`,
one command per property read, each node's connection reused (testinfra's ControlMaster default);
pytest-testinfra runs the nodes one after the other. The pair checks reach the peer with
`testinfra.get_host`. The site's values come from a JSON file named by XCATHA_BENCH_SITE (the
inventory with every default filled in, as `Inventory.to_dict()` writes it): a user keeps such a
vars file; the point is that no node fact is known in advance.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import testinfra
from testinfra.host import Host

# The same places the shipped check searches for a persistent VIP, and its KEY=value reading: the
# baseline differs in how it reaches the node (a command per property), not in what it looks for.
from xcatha_verify.checks.vip import PERSISTENT_CONFIG
from xcatha_verify.facts.ifcfg import parse_values

SITE: dict[str, Any] = json.loads(Path(os.environ["XCATHA_BENCH_SITE"]).read_text())
VIP: dict[str, Any] = SITE["vip"]
NODES: dict[str, dict[str, Any]] = {n["name"]: n for n in SITE["nodes"]}
UNITS: list[str] = [s["unit"] for s in SITE["services"]]
TIME_SERVICE: dict[str, str] | None = next((s for s in SITE["services"] if s["role"] in ("ntpd", "chronyd")), None)
SHARED: list[dict[str, Any]] = SITE["shared_data"]
CLOCK_TOLERANCE_S: float = SITE["clock"]["tolerance_seconds"]
CLOCK_SAMPLES = 3


@pytest.fixture(scope="module")
def node(host: Host) -> dict[str, Any]:
    """The inventory entry of the node `host` reaches (its hostspec is ssh://root@NAME)."""
    return NODES[host.backend.get_hostname()]


@pytest.fixture(scope="module")
def peer(node: dict[str, Any], pytestconfig: pytest.Config) -> Host:
    """The other node, over its own testinfra host (same ssh config, so the same ControlPath)."""
    other = next(n for name, n in NODES.items() if name != node["name"])
    return testinfra.get_host(other["target"], ssh_config=pytestconfig.option.ssh_config)


def holds_vip(h: Host) -> bool:
    """Whether the VIP is on any interface of the node."""
    return any(VIP["address"] in h.interface(name).addresses for name in h.interface.names())


def hosts_entries(text: str) -> set[tuple[str, tuple[str, ...]]]:
    """/etc/hosts as a lookup sees it: comments, spacing, order, letter case and duplicates aside."""
    entries = set()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            address = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            address = f"invalid: {fields[0]}"  # a bad line still counts as a difference
        entries.add((address, tuple(dict.fromkeys(name.lower() for name in fields[1:]))))
    return entries


def test_hosts_vip_entry(host: Host) -> None:
    """hosts.vip_entry: /etc/hosts maps the VIP to its long and short name."""
    hosts = host.file("/etc/hosts")
    names = set()
    for address, line_names in hosts_entries(hosts.content_string if hosts.exists else ""):
        if address == str(ipaddress.ip_address(VIP["address"])):
            names.update(line_names)
    hostname = VIP["hostname"].lower()
    assert {hostname, hostname.split(".")[0]} <= names


def test_single_vip_holder(host: Host, peer: Host) -> None:
    """pair.single_vip_holder: at most one node holds the VIP (none is fine before activation)."""
    assert holds_vip(host) + holds_vip(peer) in (0, 1)


def test_peer_deactivated(peer: Host) -> None:
    """pair.peer_deactivated: the peer holds no VIP and runs none of the services."""
    running = [unit for unit in UNITS if peer.service(unit).is_running]
    assert not holds_vip(peer)
    assert not running


def test_hosts_in_sync(host: Host, peer: Host) -> None:
    """pair.hosts_in_sync: both /etc/hosts say the same."""
    mine, theirs = host.file("/etc/hosts"), peer.file("/etc/hosts")
    assert hosts_entries(mine.content_string if mine.exists else "") == hosts_entries(
        theirs.content_string if theirs.exists else ""
    )


def clock_sample(h: Host) -> tuple[float, float]:
    """(node clock minus local midpoint, half round trip) from one `date` call."""
    before = time.time()
    remote = float(h.check_output("date +%s.%N"))
    after = time.time()
    return remote - (before + after) / 2, (after - before) / 2


def time_daemon_synchronised(h: Host, role: str) -> bool:
    if role == "chronyd":
        out = h.run("chronyc -n tracking")
        leap = next((line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Leap")), "")
        return out.rc == 0 and bool(leap) and leap != "Not synchronised"
    return h.run("ntpstat").rc == 0


def test_clock_offset(host: Host, peer: Host) -> None:
    """pair.clock_offset: the clocks agree within the tolerance; a running time daemon is synchronised."""
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_SAMPLES):
        (mine, my_error), (theirs, their_error) = clock_sample(host), clock_sample(peer)
        if best is None or my_error + their_error < best[1]:
            best = (theirs - mine, my_error + their_error)
        if best[1] < CLOCK_TOLERANCE_S / 4:  # bound tight enough: more samples change nothing
            break
    assert best is not None
    offset, bound = best
    assert bound < CLOCK_TOLERANCE_S, "round trips too slow to measure"
    assert abs(offset) + bound < CLOCK_TOLERANCE_S
    if TIME_SERVICE is not None:
        for h in (host, peer):
            if h.service(TIME_SERVICE["unit"]).is_running:
                assert time_daemon_synchronised(h, TIME_SERVICE["role"])


@pytest.mark.parametrize("unit", UNITS)
def test_disabled_at_boot(host: Host, unit: str) -> None:
    """services.disabled_at_boot: the unit will not start at boot (disabled, masked or not installed)."""
    assert not host.service(unit).is_enabled


@pytest.mark.parametrize("unit", UNITS)
def test_stopped(host: Host, unit: str) -> None:
    """services.stopped: the unit does not run (`systemctl is-active`; a unit still activating passes here)."""
    assert not host.service(unit).is_running


def shared_connected(h: Host, entry: dict[str, Any]) -> bool:
    """A shared path is connected: a mount point (source and fstype as given), or a symlink into the mounted root."""
    if entry["mode"] == "mount":
        mount = h.mount_point(entry["path"])
        return (
            mount.exists
            and (not entry["source"] or mount.device == entry["source"])
            and (not entry["fstype"] or mount.filesystem == entry["fstype"])
        )
    root = entry["root"].rstrip("/")
    return h.file(entry["path"]).linked_to.startswith(root + "/") and h.mount_point(root).exists


@pytest.mark.parametrize("entry", SHARED, ids=[e["path"] for e in SHARED])
def test_shared_disconnected(host: Host, entry: dict[str, Any]) -> None:
    """shared.disconnected: the shared path is not connected here."""
    assert not shared_connected(host, entry)


def test_vip_absent(host: Host) -> None:
    """vip.absent: the VIP is on no interface."""
    assert not holds_vip(host)


@pytest.mark.parametrize("path", PERSISTENT_CONFIG)
def test_vip_not_persistent(host: Host, path: str) -> None:
    """vip.not_persistent: no alias file, and no persistent configuration naming the VIP."""
    found = host.run("grep -rlsw -F -e %s -- %s", VIP["address"], path).stdout.split()
    if path == "/etc/sysconfig/network-scripts":
        found += host.run("find %s -maxdepth 1 -name %s", path, f"ifcfg-{VIP['interface']}:*").stdout.split()
    assert not found


def ifcfg_boot_addresses(values: dict[str, str]) -> set[tuple[str, int]]:
    """(address, prefix) of every IPADDRn, its prefix from PREFIXn, NETMASKn or the address class (as ipcalc)."""
    found = set()
    for key, value in values.items():
        match = re.fullmatch(r"IPADDR(\d*)", key)
        if not match:
            continue
        n = match.group(1)
        try:
            address = ipaddress.IPv4Address(value)
            if f"PREFIX{n}" in values:
                prefix = int(values[f"PREFIX{n}"])
            elif f"NETMASK{n}" in values:
                prefix = ipaddress.IPv4Network(f"0.0.0.0/{values[f'NETMASK{n}']}").prefixlen
            else:
                first = int(address) >> 24
                prefix = 8 if first < 128 else 16 if first < 192 else 24
        except ValueError:
            continue  # an address or prefix that does not parse configures nothing
        found.add((str(address), prefix))
    return found


def test_static_ip_persistent(host: Host, node: dict[str, Any]) -> None:
    """net.static_ip_persistent: the network config file brings the static IP up on the VIP's interface at boot."""
    path = node["network_config"]
    config = host.file(path)
    assert config.exists
    text, ip, prefix = config.content_string, node["static_ip"], node["prefix"]
    name = Path(path).name
    if not name.startswith("ifcfg-"):
        assert ip in text.replace("/", " ").replace("=", " ").split()
        return
    values = parse_values(text)
    assert values.get("ONBOOT", "yes").lower() in ("yes", "true", "1")
    if ipaddress.ip_address(ip).version == 6:  # IPV6ADDR and IPV6ADDR_SECONDARIES, each ADDRESS/PREFIX
        assert f"{ip}/{prefix}" in [w for k, v in values.items() if k.startswith("IPV6ADDR") for w in v.split()]
        return
    assert (values.get("DEVICE") or name.removeprefix("ifcfg-")) == VIP["interface"]
    assert values.get("BOOTPROTO", "").lower() in ("static", "none", "")
    assert (ip, prefix) in ifcfg_boot_addresses(values)


def test_vip_free_on_network(host: Host) -> None:
    """vip.free_on_network: ARP duplicate-address detection gets no reply for the VIP.

    The same sub-second prober as the shipped check (this Python, which the lab nodes share), so the
    baseline differs in how it reads the nodes, not in the probe; iputils' arping where it is missing.
    """
    result = host.run("%s -m xcatha_verify.arp probe %s %s", sys.executable, VIP["interface"], VIP["address"])
    if "Sent " not in result.stdout and not result.stderr.startswith("arp: "):
        result = host.run("arping -D -c 2 -w 4 -I %s %s", VIP["interface"], VIP["address"])
    assert "Sent " in result.stdout, f"ARP probing failed: {result.stderr.strip()}"
    assert "Received 0 response" in result.stdout
