"""The virtual IP: on the active node with its prefix and label, nowhere else, never persistent."""

from __future__ import annotations

import re
import shlex

import pytest

from xcatha_verify.checkkit import ACTIVE, PHASES, STANDBY, check, fail, verdict
from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory

# Where a distribution keeps persistent addresses.
PERSISTENT_CONFIG = (
    "/etc/sysconfig/network-scripts",
    "/etc/sysconfig/network",
    "/etc/NetworkManager/system-connections",
    "/etc/network/interfaces",
    "/etc/network/interfaces.d",
    "/etc/netplan",
)
# A packet that makes the VIP taken, as the prober (and iputils' arping, replies only) prints it.
ARP_CONFLICT = re.compile(r"^(Unicast reply|Announcement|Probe) from \S+ \[([0-9A-Fa-f:]+)\]", re.M)


@check("vip.present", phases=ACTIVE)
def check_vip_present(facts: NodeFacts, inventory: Inventory) -> None:
    """The VIP is on its interface with its prefix and label."""
    vip = inventory.vip
    held = facts.vip_addresses
    wanted = [a for a in held if (a.interface, a.prefix, a.label) == (vip.interface, vip.prefix, vip.label)]
    verdict(
        bool(wanted),
        observed=", ".join(map(str, held)) or f"{vip.address} is not configured on this node",
        expected=f"{vip.address}/{vip.prefix} on {vip.interface} label {vip.label}",
        fix=f"ip addr add {vip.address}/{vip.prefix} brd + dev {vip.interface} label {vip.label}",
    )


@check("vip.absent", phases=STANDBY)
def check_vip_absent(facts: NodeFacts, inventory: Inventory) -> None:
    """The VIP is on no interface of this node."""
    held = facts.vip_addresses
    verdict(
        not held,
        observed=", ".join(map(str, held)),
        expected=f"{inventory.vip.address} on no interface",
        fix="; ".join(f"ip addr del {a.address}/{a.prefix} dev {a.interface}" for a in held),
    )


def _persistent_vip_search(inventory: Inventory) -> str:
    """Alias files (ifcfg-eth0:0) and any persistent config naming the VIP as a whole word."""
    vip = inventory.vip
    paths = " ".join(shlex.quote(p) for p in PERSISTENT_CONFIG)
    alias = shlex.quote(f"ifcfg-{vip.interface}:")
    return (
        f"ls -1d /etc/sysconfig/network-scripts/{alias}* 2>/dev/null; "
        f"grep -rlsw -F -e {shlex.quote(str(vip.address))} -- {paths} 2>/dev/null; true"
    )


@check("vip.not_persistent", phases=PHASES, reads=lambda facts: facts.start(_persistent_vip_search(facts.inventory)))
def check_vip_not_persistent(facts: NodeFacts, inventory: Inventory) -> None:
    """No persistent network configuration carries the VIP (it must vanish on reboot)."""
    vip = inventory.vip
    found = sorted(set(facts.run(_persistent_vip_search(inventory)).stdout.split()))
    verdict(
        not found,
        observed="the VIP is configured persistently in: " + ", ".join(found),
        expected=f"{vip.address} in no persistent configuration ({', '.join(PERSISTENT_CONFIG)})",
        fix="remove the VIP from: " + ", ".join(found) + " (it is added at activation, never at boot)",
    )


def _start_vip_probe(facts: NodeFacts) -> None:
    facts.start(*facts.vip_probe_command())


@check("vip.free_on_network", phases=("pre-activate",), reads=_start_vip_probe)
def check_vip_free_on_network(request: pytest.FixtureRequest, facts: NodeFacts, inventory: Inventory) -> None:
    """ARP duplicate-address detection finds nobody answering for the VIP (RFC 5227 probes).

    A probe for the VIP from the peer's own interface is the peer checking too (`--all` runs both
    nodes at once), not a holder; any other host's probe is someone claiming the VIP right now.
    """
    vip = inventory.vip
    result = facts.vip_probe
    received = re.search(r"Received (\d+) response", result.stdout)
    # Only a completed probe counts: arping exits 1 on an interface error too, as on a reply.
    if received is None or "Sent" not in result.stdout:
        fail(
            observed=f"ARP probing failed (exit {result.rc}): {(result.stderr or result.stdout).strip()}",
            expected=f"ARP probes for {vip.address} on {vip.interface} with no reply",
            fix=f"run the checks as root; make sure {vip.interface} exists and is up (ip link set {vip.interface} up); "
            "without xcatha-verify on the node, install iputils-arping",
        )
    seen = [(what, mac.upper()) for what, mac in ARP_CONFLICT.findall(result.stdout)]
    conflicts = seen
    if any(what == "Probe" for what, _ in seen):
        peer_mac = _peer_mac(request, inventory)
        conflicts = [(what, mac) for what, mac in seen if not (what == "Probe" and mac == peer_mac)]
    verdict(
        # Responses the prober counted but no line names are conflicts too.
        not conflicts and (received.group(1) == "0" or bool(seen)),
        observed="; ".join(f"{what} from {vip.address} [{mac}]" for what, mac in conflicts)
        or f"{received.group(1)} replies: {vip.address} is in use",
        expected=f"no host answers ARP for {vip.address}",
        fix=(
            f"find the holder of {vip.address} (the MAC above) and remove the VIP there "
            f"(ip addr del {vip.address}/{vip.prefix} dev {vip.interface}); never activate while it answers"
        ),
    )


def _peer_mac(request: pytest.FixtureRequest, inventory: Inventory) -> str | None:
    """The peer's hardware address on the VIP's interface; None when the peer cannot be read (then every
    probe counts)."""
    try:
        peer: NodeFacts = request.getfixturevalue("peer_facts")
        return peer.interface_macs.get(inventory.vip.interface)
    except (NodeUnreachable, FactError):
        return None
