"""/etc/hosts: the VIP maps to its hostname, long and short, and each node's name to its static IP."""

from __future__ import annotations

import re

from xcatha_verify.checkkit import PHASES, check, verdict
from xcatha_verify.facts.hosts import HostsEntry, IPAddress, addresses_for, ambiguous_names, names_for, parse_hosts
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


@check("hosts.inventory_names", phases=PHASES)
def check_hosts_inventory_names(facts: NodeFacts, inventory: Inventory) -> None:
    """/etc/hosts maps each node's name to its static IP, the VIP's names to no other address, and no
    name at all to two addresses of one family.

    A name on two lines of one address family resolves to the first (glibc's files backend): a stale
    line above the right one wins, so it is wrong even when the right line is there too. Any other
    name so written resolves today, and the day the first line goes the other takes over unseen: its
    fix removes the later lines, which changes no lookup. The VIP's own line is hosts.vip_entry's to judge.
    """
    hosts = parse_hosts(facts.file("/etc/hosts") or "")
    vip = inventory.vip
    wanted = {n.name: n.static_ip for n in inventory.nodes} | {vip.hostname: vip.address, vip.short_name: vip.address}
    problems: list[str] = []
    fixes: list[tuple[int, str]] = []
    for name, address in wanted.items():
        found = [a for a in addresses_for(hosts, name) if a.version == address.version]
        wrong = [a for a in found if a != address]
        is_node = address != vip.address
        if is_node and address not in found:
            problems.append(f"{name} maps to {', '.join(map(str, found)) or 'nothing'}, not {address}")
        elif wrong:
            problems.append(f"{name} maps to {address} and also to {', '.join(map(str, wrong))}")
        fixes += _hosts_fixes(hosts.entries, name, address, wrong, right_present=address in found or not is_node)
    judged = {name.lower() for name in wanted}
    for name, addresses in ambiguous_names(hosts).items():
        if name.lower() not in judged:
            first, later = addresses[0], addresses[1:]
            problems.append(f"{name} maps to {first} and also to {', '.join(map(str, later))} (a lookup takes {first})")
            fixes += _hosts_fixes(hosts.entries, name, first, later, right_present=True)
    # Highest line first, so that a deleted line does not move the ones still to edit; appends last.
    ordered = sorted(fixes, key=lambda fix: -fix[0] if fix[0] else 1)
    verdict(
        not problems,
        observed="; ".join(problems),
        expected="; ".join(f"{n} -> {a}" for n, a in wanted.items()) + ", each on no other address, "
        "and no name on two addresses",
        fix="; ".join(dict.fromkeys(cmd for _, cmd in ordered)) + "  # on this node; then the same file on both",
    )


def _hosts_fixes(entries: tuple[HostsEntry, ...], name: str, address: IPAddress, wrong: list[IPAddress],
                 *, right_present: bool) -> list[tuple[int, str]]:  # fmt: skip
    """(line, command) that make /etc/hosts map `name` to `address` only, from the lines seen (line 0: append)."""
    fixes = []
    lower = name.lower()
    for entry in (e for e in entries if e.address in wrong and lower in (n.lower() for n in e.names)):
        others = [n for n in entry.names if n.lower() != lower and not n.lower().startswith(lower + ".")]
        if others:  # the line names other hosts too: take only this name (and its long forms) off it
            pattern = f"[[:space:]]{re.escape(name)}(\\.[^[:space:]]*)?([[:space:]]|$)"
            # Again until none is left: adjacent names share the blank between them, so one pass skips some.
            fixes.append((entry.line, f"sed -i -E '{entry.line}{{:a;s/{pattern}/\\2/;ta}}' /etc/hosts"))
        elif right_present:  # a stale copy of the right line: drop it
            fixes.append((entry.line, f"sed -i '{entry.line}d' /etc/hosts"))
        else:  # the node's own line with a stale address: correct the address
            old = re.escape(str(entry.address))
            fixes.append((entry.line, f"sed -i '{entry.line}s/^[[:space:]]*{old}/{address}/' /etc/hosts"))
            right_present = True
    if not right_present:
        fixes.append((0, f"echo '{address} {name}' >> /etc/hosts"))
    return fixes
