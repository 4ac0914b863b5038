"""/etc/hosts: the VIP maps to its hostname, long and short (xCAT's commands read this file)."""

from __future__ import annotations

from xcatha_verify.checkkit import PHASES, check, verdict
from xcatha_verify.facts.hosts import names_for, parse_hosts
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory


@check("hosts.vip_entry", phases=PHASES)
def check_hosts_vip_entry(facts: NodeFacts, inventory: Inventory) -> None:
    """/etc/hosts maps the VIP to its long and short hostname."""
    vip = inventory.vip
    hosts = parse_hosts(facts.file("/etc/hosts") or "")
    names = {n.lower() for n in names_for(hosts, vip.address)}
    wanted = {vip.hostname.lower(), vip.short_name.lower()}
    verdict(
        wanted <= names,
        observed=f"{vip.address} maps to: {', '.join(sorted(names)) or 'nothing'}",
        expected=f"{vip.address} {vip.hostname} {vip.short_name}",
        fix=f"add the line '{vip.address} {vip.hostname} {vip.short_name}' to /etc/hosts on both nodes",
    )
