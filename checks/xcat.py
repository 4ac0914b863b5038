"""xCAT itself: cfgloc and the site table name the VIP, xcatd reads its database, mgtifname is the VIP's label."""

from __future__ import annotations

import ipaddress

from xcatha_verify.checkkit import ACTIVE, FROM_THE_DATABASE, ON_SHARED_DATA, check, fail, verdict
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import (
    SERVER_CERT,
    SERVER_CERT_SUBJECT,
    SITE_TABLE_QUERY,
    NodeFacts,
)
from xcatha_verify.facts.xcat import parse_cfgloc, policy_rows_for, site_not_the_vip
from xcatha_verify.inventory import Inventory
from xcatha_verify.xcatd_reads import xcat_table_or_cause

ENGINES = {"postgresql": "Pg", "mariadb": "mysql"}


@check("xcat.cfgloc", phases=ACTIVE, needs=ON_SHARED_DATA)
def check_cfgloc(facts: NodeFacts, inventory: Inventory) -> None:
    """/etc/xcat/cfgloc (or XCATCFG, which xCAT reads first) is in the database's form and points at the VIP.

    Its password is never shown.
    """
    path = inventory.database.cfgloc
    where, text = facts.xcat_database_config()
    vip = inventory.vip
    engine = ENGINES[inventory.database.type]
    expected = f"{engine}:dbname={inventory.database.name};host={vip.address}|<user>|<password>"
    if text is None:
        fail(observed=f"{path} does not exist", expected=expected,
                fix="connect the shared data; cfgloc lives in /etc/xcat")  # fmt: skip
    # XCATCFG is the site's own override: the fix names where it is set, not cfgloc.
    then = "systemctl restart xcatd"
    place = f"edit {path} so that it reads" if where == path else f"change {where} to"
    try:
        cfgloc = parse_cfgloc(text or "")
    except FactError as exc:
        fail(observed=f"{where}: {exc}", expected=expected, fix=f"{place} {expected}, then {then}")
    host_ok = cfgloc.host in (str(vip.address), vip.hostname, vip.short_name)
    verdict(
        cfgloc.engine == engine and host_ok and cfgloc.dbname == inventory.database.name,
        observed=f"{where}: {cfgloc.redacted()}",
        expected=expected,
        fix=f"{place} {engine}:dbname={inventory.database.name};host={vip.address}|{cfgloc.user}|<password>, "
        f"then {then}",
    )


@check("xcat.xcatd", phases=("post-activate", "active"), reads=lambda facts: facts.start_xcat(SITE_TABLE_QUERY),
       needs=(*ON_SHARED_DATA, *FROM_THE_DATABASE))
def check_xcatd_answers(facts: NodeFacts, inventory: Inventory) -> None:
    """xcatd answers a read of the site table from its database.

    `lsxcatd -a` alone would prove little (it reads cfgloc and never touches the database): it runs
    only when the read fails, to tell a daemon that does not answer from one without its database.
    """
    expected = "xcatd reads the site table from its database (tabdump site)"
    site = xcat_table_or_cause(facts, inventory, lambda: facts.site_table_through_xcatd, expected)
    master = site.get("master")
    verdict(
        bool(master),
        observed="the site table has no master" if not master else f"site table read, master={master}",
        expected=expected,
        fix=f"chdef -t site master={inventory.vip.address}",
    )


@check("xcat.site_master", phases=("post-activate", "active"), reads=lambda facts: facts.start_database_tables(),
       needs=FROM_THE_DATABASE)
def check_site_master(facts: NodeFacts, inventory: Inventory) -> None:
    """The site table's master, and its nameservers where set, are the VIP: nodes follow the VIP, not a node."""
    site = xcat_table_or_cause(facts, inventory, lambda: facts.site_table,
                               "the site table readable from xCAT's database")  # fmt: skip
    vip = inventory.vip
    wrong = site_not_the_vip(site, str(vip.address), (vip.hostname, vip.short_name))
    verdict(
        not wrong,
        observed="; ".join(f"site {k}={v or '<unset>'}" for k, v in wrong.items()),
        expected=f"site master={vip.address}" + (f", nameservers={vip.address}" if site.get("nameservers") else ""),
        fix="chdef -t site " + " ".join(f"{k}={vip.address}" for k in wrong),
    )


def _start_policy_reads(facts: NodeFacts) -> None:
    facts.start_database_tables()
    facts.start(SERVER_CERT_SUBJECT, SERVER_CERT)


@check("xcat.policy", phases=("post-activate", "active"), reads=_start_policy_reads,
       needs=(*ON_SHARED_DATA, *FROM_THE_DATABASE))
def check_policy_trusts_the_server_certificate(facts: NodeFacts, inventory: Inventory) -> None:
    """The policy table trusts the CN of the shared server certificate, whichever node now serves with it.

    Both nodes' xcatd present the one certificate from the shared /etc/xcat; requests signed with it
    (xCAT's own daemons and plugins calling back) are authorised by its CN.
    """
    try:
        name = facts.server_cert_cn
    except FactError as exc:
        fail(observed=str(exc), expected=f"{SERVER_CERT} readable (the shared data connected)",
             fix="connect the shared data; xCAT's certificates live in /etc/xcat/cert")  # fmt: skip
    rows = xcat_table_or_cause(facts, inventory, lambda: facts.policy_table,
                               "the policy table readable from xCAT's database")  # fmt: skip
    mine, trusted = policy_rows_for(rows, name)
    verdict(
        trusted,
        observed=f"policy for {name}: " + (", ".join(f"priority {r.get('priority')} rule={r.get('rule')}"
                                                     for r in mine) or "no row"),
        expected=f"a policy row name={name} rule=trusted (the CN of {SERVER_CERT})",
        fix=f"xcatha-run prepare (or: chtab priority=1.2 policy.name={name} policy.rule=trusted)",
    )


def _networks_to_check(inventory: Inventory, networks: dict[str, dict[str, str]]) -> list[str]:
    if inventory.mgt_networks:
        return list(inventory.mgt_networks)
    covering = []
    for name, attrs in networks.items():
        try:
            net = ipaddress.ip_network(f"{attrs.get('net')}/{attrs.get('mask')}", strict=False)
        except ValueError:
            continue
        if inventory.vip.address in net:
            covering.append(name)
    return covering


@check("xcat.mgtifname", phases=("post-activate", "active"),
       reads=lambda facts: facts.start_database_tables(), needs=FROM_THE_DATABASE)
def check_mgtifname(facts: NodeFacts, inventory: Inventory) -> None:
    """The provision network's mgtifname is the VIP's label (e.g. eth0:0)."""
    networks = xcat_table_or_cause(facts, inventory, lambda: facts.networks_table,
                                   "the networks table readable from xCAT's database")  # fmt: skip
    names = _networks_to_check(inventory, networks)
    label = inventory.vip.label
    wrong = {n: networks.get(n, {}).get("mgtifname", "<missing network>") for n in names}
    wrong = {n: v or "<unset>" for n, v in wrong.items() if v != label}
    verdict(
        bool(names) and not wrong,
        observed="; ".join(f"{n}: mgtifname={v}" for n, v in wrong.items())
        or f"no network in the networks table contains {inventory.vip.address}",
        expected=f"mgtifname={label} for " + (", ".join(names) or f"the network containing {inventory.vip.address}"),
        fix="; ".join(f"chdef -t network -o {n} mgtifname={label}" for n in wrong) or "mkdef the provision network",
    )
