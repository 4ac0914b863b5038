"""The virtual IP: present with its prefix and label on the active node, absent everywhere else."""

from __future__ import annotations

from testinfra.host import Host

from xcatha_verify.checkkit import check, verdict
from xcatha_verify.facts.network import IP_ADDR_COMMAND, parse_ip_addr_json
from xcatha_verify.inventory import Inventory


def _addresses(host: Host) -> list:
    return parse_ip_addr_json(host.check_output(IP_ADDR_COMMAND))


@check("vip.present", phases=("post-activate", "active"))
def test_vip_present(host: Host, inventory: Inventory) -> None:
    """The VIP is on its interface with its prefix and label."""
    vip = inventory.vip
    holding = [a for a in _addresses(host) if a.address == vip.address]
    wanted = [a for a in holding if (a.interface, a.prefix, a.label) == (vip.interface, vip.prefix, vip.label)]
    verdict(
        bool(wanted),
        observed=", ".join(map(str, holding)) or f"{vip.address} is not configured on this node",
        expected=f"{vip.address}/{vip.prefix} on {vip.interface} label {vip.label}",
        fix=f"ip addr add {vip.address}/{vip.prefix} brd + dev {vip.interface} label {vip.label}",
    )


@check("vip.absent", phases=("post-deactivate", "pre-activate", "standby"))
def test_vip_absent(host: Host, inventory: Inventory) -> None:
    """The VIP is on no interface of this node."""
    vip = inventory.vip
    holding = [a for a in _addresses(host) if a.address == vip.address]
    verdict(
        not holding,
        observed=", ".join(map(str, holding)),
        expected=f"{vip.address} on no interface",
        fix="; ".join(f"ip addr del {a.address}/{a.prefix} dev {a.interface}" for a in holding),
    )
