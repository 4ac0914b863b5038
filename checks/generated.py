"""What the xCAT commands of the activation generate: makedhcp's dhcpd.conf, makedns's names on the VIP.

The units can run on anything: a dhcpd on the package's example file, a named on a named.conf a
package update put back. These checks judge what the daemons use and answer, not that they run.
"""

from __future__ import annotations

import ipaddress
import shlex

import pytest

from xcatha_verify.checkkit import FROM_THE_DATABASE, check, fail, note, verdict
from xcatha_verify.facts.conditions import condition_holds
from xcatha_verify.facts.dhcpd import (
    DHCPD_ARGS,
    XCAT_DHCPD_CONF,
    XCAT_HEADER,
    config_in_use,
    declared_subnets,
    has_omapi_key,
)
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Service
from xcatha_verify.xcatd_reads import unreadable

PHASES = ("post-activate", "active")
# One line per name: "NAME ANSWER..." (dig's +short answers, blank when none); exit 127 without dig.
DIG_EACH = (
    'command -v dig >/dev/null || exit 127; server=$1; type=$2; shift 2; '
    'for name do echo "$name $(dig +short +time=2 +tries=1 @"$server" "$name" "$type" | tr "\\n" " ")"; done'
)


def _service_of(facts: NodeFacts, inventory: Inventory, role: str) -> Service:
    """The role's service where the seed runs it on this active node; otherwise the check cannot judge."""
    service = next((s for s in inventory.services if s.role == role), None)
    if service is None:
        pytest.skip(f"not applicable: {role} is not among the inventory's services")
    if service.condition is not None:
        try:
            holds, why = condition_holds(facts, service.condition)
        except FactError as exc:
            unreadable(facts, inventory, exc, f"the site table readable, to tell whether {service.unit} should run")
        if not holds:
            pytest.skip(f"not applicable: {service.unit} does not run on an active node here ({why})")
    return service


@check("xcat.dhcpd_conf", phases=PHASES, reads=lambda facts: facts.start(DHCPD_ARGS), needs=FROM_THE_DATABASE)
def check_dhcpd_conf(facts: NodeFacts, inventory: Inventory) -> None:
    """dhcpd reads the file makedhcp writes, and it is xCAT's: its header, the omapi key `makedhcp -a`
    needs, and a subnet declaration for the VIP's network."""
    service = _service_of(facts, inventory, "dhcpd")
    unit = shlex.quote(service.unit)
    xcat_conf = next((p for p in XCAT_DHCPD_CONF if facts.file(p) is not None), XCAT_DHCPD_CONF[-1])
    in_use, whose = config_in_use(facts.run(DHCPD_ARGS).stdout, facts.unit_files(service.unit))
    # makedhcp -a adds the nodes through omapi: to the daemon restarted on the new file, with its key.
    regenerate = f"makedhcp -n && systemctl restart {unit} && makedhcp -a"
    if in_use != xcat_conf:
        fail(observed=f"dhcpd reads {in_use} ({whose}); makedhcp writes {xcat_conf}",
             expected=f"dhcpd reading {xcat_conf}, the file makedhcp writes",
             fix=f"systemctl edit {unit}  # make its -cf {xcat_conf}; then {regenerate}")  # fmt: skip
    text = facts.file(in_use)
    if text is None:
        fail(observed=f"{in_use} does not exist", expected=f"{in_use} written by makedhcp -n", fix=regenerate)
    network = ipaddress.ip_network(f"{inventory.vip.address}/{inventory.vip.prefix}", strict=False)
    problems = []
    if not text.startswith(XCAT_HEADER):
        first = text.splitlines()[0] if text.strip() else "empty"
        problems.append(f"not xCAT's (its first line: {first[:60]!r})")
    if not has_omapi_key(text):
        problems.append("no omapi-key (makedhcp -a cannot add the nodes)")
    subnets = declared_subnets(text)
    if not any(network.subnet_of(s) for s in subnets if s.version == network.version):
        problems.append(f"no subnet declaration for the VIP's network {network} "
                        f"(declared: {', '.join(map(str, subnets)) or 'none'})")  # fmt: skip
    note(f"{in_use} ({whose}): xCAT's, with its omapi key and a subnet for {network}")
    verdict(
        not problems,
        observed=f"{in_use} ({whose}): " + "; ".join(problems),
        expected=f"{in_use} as makedhcp -n writes it, with a subnet for {network}",
        fix=regenerate if subnets or text.startswith(XCAT_HEADER)
        else f"{regenerate}  # if it still lacks {network}: makenetworks, then makedhcp -n",
    )


@check("xcat.dns_on_vip", phases=PHASES, reads=lambda facts: facts.start_database_tables(), needs=FROM_THE_DATABASE)
def check_dns_on_vip(facts: NodeFacts, inventory: Inventory) -> None:
    """named answers on the VIP for the cluster's names makedns -n put in it: the VIP's host name and
    each management node's, with the addresses /etc/hosts and the inventory give them."""
    _service_of(facts, inventory, "named")
    try:
        domain = facts.site_domain
    except FactError as exc:
        unreadable(facts, inventory, exc, "the site table's domain readable")
    vip = inventory.vip
    wanted = {vip.hostname: vip.address} | {node.name: node.static_ip for node in inventory.nodes}
    qualified = {(name if "." in name else f"{name}.{domain}"): address for name, address in wanted.items()}
    record = "A" if vip.address.version == 4 else "AAAA"
    names = list(qualified)
    result = facts.run("sh -c %s sh %s %s" + " %s" * len(names), DIG_EACH, str(vip.address), record, *names)
    if result.rc == 127:
        fail(observed=f"dig is not installed on {facts.node.name}", expected="dig, to ask named on the VIP",
             fix="apt-get install bind9-dnsutils  # RHEL: dnf install bind-utils")  # fmt: skip
    answers = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.split()}
    wrong = [f"{name}: {' '.join(answers.get(name, [])) or 'no answer'}, not {address}"
             for name, address in qualified.items() if str(address) not in answers.get(name, [])]  # fmt: skip
    note(f"named on {vip.address} answers " + ", ".join(f"{n} {a}" for n, a in qualified.items()))
    verdict(
        not wrong,
        observed=f"named on {vip.address}: " + "; ".join(wrong),
        expected=f"named on {vip.address} answering " + ", ".join(f"{n} {a}" for n, a in qualified.items()),
        fix="makedns -n  # rewrites named's configuration and zones from /etc/hosts and restarts named",
    )
