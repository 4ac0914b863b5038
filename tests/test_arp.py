"""xcatha_verify.arp on the lab's real network: duplicate-address probes and gratuitous ARP, as the kernel sees them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import testinfra

from tests.observe import claiming, link_mac
from xcatha_verify.arp import ARP_REQUEST, arp_frame, conflict, parse_arp
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab.lab import Lab

FREE = "192.0.2.99"  # in the lab's subnet, held by nobody
PY = sys.executable  # the lab's nodes see this installation at the same path


def _mac(lab: Lab, node: str) -> str:
    return link_mac(lab.layout.node_ns(node), lab.layout.interface)


def _arp(lab: Lab, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.run(node, [PY, "-m", "xcatha_verify.arp", *args], check=False)


def test_frames_round_trip_and_conflicts_follow_rfc5227() -> None:
    own, other = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    vip, zero = bytes([192, 0, 2, 7]), bytes(4)
    packet = parse_arp(arp_frame(other, ARP_REQUEST, zero, vip))
    assert packet == (ARP_REQUEST, other, zero, vip)
    assert conflict(packet, own, vip) == "Probe"  # someone else claims it right now
    assert conflict(packet, other, vip) is None  # our own probe, seen again
    assert conflict(parse_arp(arp_frame(other, 2, vip, zero)), own, vip) == "Unicast reply"  # type: ignore[arg-type]
    assert conflict(parse_arp(arp_frame(other, ARP_REQUEST, vip, vip)), own, vip) == "Announcement"  # type: ignore[arg-type]
    assert conflict(parse_arp(arp_frame(other, ARP_REQUEST, bytes([192, 0, 2, 8]), vip)), own, vip) is None  # type: ignore[arg-type]
    assert parse_arp(b"\x00" * 41) is None


@pytest.mark.lab
def test_probe_hears_the_holder_and_nobody_for_a_free_address(lab: Lab) -> None:
    held = _arp(lab, "xcatmn2", "probe", lab.layout.interface, str(lab.layout.vip))
    assert held.returncode == 1, held
    assert f"Unicast reply from {lab.layout.vip} [{_mac(lab, 'xcatmn1')}]" in held.stdout
    assert "Received 1 response(s)" in held.stdout

    free = _arp(lab, "xcatmn2", "probe", lab.layout.interface, FREE)
    assert free.returncode == 0, free
    assert "Sent 3 probes" in free.stdout and "Received 0 response(s)" in free.stdout


@pytest.mark.lab
def test_two_nodes_probing_for_one_address_both_see_a_conflict(lab: Lab) -> None:
    with claiming(lab.layout.node_ns("xcatmn1"), lab.layout.interface, FREE):
        probe = _arp(lab, "xcatmn2", "probe", lab.layout.interface, FREE)
    assert probe.returncode == 1, probe
    assert f"Probe from {FREE} [{_mac(lab, 'xcatmn1')}]" in probe.stdout


@pytest.mark.lab
def test_announce_moves_a_neighbours_cache_entry(lab: Lab) -> None:
    ns = lab.layout.node_ns("xcatmn1")
    neigh = ["ip", "-n", ns, "neigh"]
    stale_entry = ["lladdr", "02:00:00:00:00:01", "dev", lab.layout.interface, "nud", "stale"]
    subprocess.run([*neigh, "replace", FREE, *stale_entry], check=True)
    try:
        sent = _arp(lab, "xcatmn2", "announce", lab.layout.interface, FREE)
        assert sent.returncode == 0, sent
        entry = subprocess.run([*neigh, "show", FREE, "dev", lab.layout.interface], capture_output=True, text=True,
                               check=True).stdout  # fmt: skip
        assert _mac(lab, "xcatmn2").lower() in entry, entry
    finally:
        subprocess.run([*neigh, "del", FREE, "dev", lab.layout.interface], check=False)


@pytest.mark.lab
def test_probe_cannot_use_a_missing_interface(lab: Lab) -> None:
    result = _arp(lab, "xcatmn2", "probe", "nosuch0", FREE)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["arp: cannot use interface nosuch0: No such device"]


@pytest.mark.lab
def test_node_without_xcatha_verify_is_probed_with_arping(lab: Lab) -> None:
    inventory = load_inventory(lab.layout.inventory)
    host = testinfra.get_host("ssh://root@xcatmn2", ssh_config=str(lab.layout.ssh_config))
    node = inventory.node("xcatmn2")
    ours = NodeFacts(host, node, inventory).vip_probe
    fallback = NodeFacts(host, node, inventory, python="/nonexistent/python3").vip_probe
    for result in (ours, fallback):
        assert "Received 1 response(s)" in result.stdout, result
        assert _mac(lab, "xcatmn1") in result.stdout.upper()
    assert "Sent 1 probes" in ours.stdout and "ARPING 192.0.2.7 from 0.0.0.0" in fallback.stdout
