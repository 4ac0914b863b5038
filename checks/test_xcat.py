"""xCAT itself: cfgloc and the site table name the VIP, xcatd reads its database, mgtifname is the VIP's label."""

from __future__ import annotations

import ipaddress
from typing import NoReturn

from xcatha_verify.checkkit import ACTIVE, check, fail, verdict
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NETWORKS_TABLE_QUERY, SITE_TABLE_QUERY, NodeFacts
from xcatha_verify.facts.postgres import PG_ISREADY
from xcatha_verify.facts.xcat import parse_cfgloc
from xcatha_verify.inventory import Inventory

ENGINES = {"postgresql": "Pg", "mariadb": "mysql"}


@check("xcat.cfgloc", phases=ACTIVE)
def test_cfgloc(facts: NodeFacts, inventory: Inventory) -> None:
    """/etc/xcat/cfgloc is in the database's form and points at the VIP (its password is never shown)."""
    path = inventory.database.cfgloc
    text = facts.file(path)
    vip = inventory.vip
    engine = ENGINES[inventory.database.type]
    expected = f"{engine}:dbname={inventory.database.name};host={vip.address}|<user>|<password>"
    if text is None:
        fail(observed=f"{path} does not exist", expected=expected,
                fix="connect the shared data; cfgloc lives in /etc/xcat")  # fmt: skip
    try:
        cfgloc = parse_cfgloc(text or "")
    except FactError as exc:
        fail(observed=f"{path}: {exc}", expected=expected, fix=f"rewrite {path} as {expected}")
    host_ok = cfgloc.host in (str(vip.address), vip.hostname, vip.short_name)
    verdict(
        cfgloc.engine == engine and host_ok and cfgloc.dbname == inventory.database.name,
        observed=f"{path}: {cfgloc.redacted()}",
        expected=expected,
        fix=f"edit {path} so that it reads {engine}:dbname={inventory.database.name};host={vip.address}|"
        f"{cfgloc.user}|<password>, then systemctl restart xcatd",
    )


@check("xcat.xcatd", phases=("post-activate", "active"), reads=lambda facts: facts.start_xcat(SITE_TABLE_QUERY))
def test_xcatd_answers(facts: NodeFacts, inventory: Inventory) -> None:
    """xcatd answers a read of the site table from its database.

    `lsxcatd -a` alone would prove little (it reads cfgloc and never touches the database): it runs
    only when the read fails, to tell a daemon that does not answer from one without its database.
    """
    expected = "xcatd reads the site table from its database (tabdump site)"
    try:
        master = facts.site_table.get("master")
    except FactError as exc:
        unreadable(facts, inventory, exc, expected)
    verdict(
        bool(master),
        observed="the site table has no master" if not master else f"site table read, master={master}",
        expected=expected,
        fix=f"chdef -t site master={inventory.vip.address}",
    )


def unreadable(facts: NodeFacts, inventory: Inventory, exc: FactError, expected: str) -> NoReturn:
    """Fail a check whose table read through xcatd failed, naming the cause: the database, or xcatd.

    xcatd needs its database even for `lsxcatd -a` (its policy check reads a table), so the database
    is asked first (pg_isready on cfgloc's host, the VIP); then `lsxcatd -a` tells a daemon that does
    not answer at all from one that answers but cannot read the table.
    """
    unit, db_unit = _xcatd_unit(inventory), inventory.database_service.unit
    cause = _database_cause(facts, inventory)
    if cause:
        fail(observed=f"{exc}; the database is the cause: {cause}", expected=expected,
             fix=f"systemctl start {db_unit}, then systemctl restart {unit}")  # fmt: skip
    daemon = facts.xcat("lsxcatd -a")
    if daemon.rc != 0 or "dbengine=" not in daemon.stdout:
        answer = (daemon.stderr or daemon.stdout).strip().splitlines()
        said = "no answer within the time limit (xcatd hung?)" if daemon.rc == 124 else (
            f"exit {daemon.rc}: {answer[-1] if answer else 'no output'}")
        fail(observed=f"{exc}; lsxcatd -a: {said}", expected=expected,
             fix=f"systemctl restart {unit}; see journalctl -u {unit}")  # fmt: skip
    fail(observed=f"{exc}; xcatd answers lsxcatd -a and PostgreSQL accepts connections on the VIP",
         expected=expected,
         fix=f"see journalctl -u {unit}; check cfgloc's user and pg_hba.conf for this node")  # fmt: skip


def _xcatd_unit(inventory: Inventory) -> str:
    return next((s.unit for s in inventory.services if s.role == "xcatd"), "xcatd")


def _database_cause(facts: NodeFacts, inventory: Inventory) -> str | None:
    """Why xCAT's database does not answer, as pg_isready says it for cfgloc's host; None when it answers."""
    db = inventory.database
    result = facts.run("pg_isready -q -t 3 -h %s -p %s -d %s", str(inventory.vip.address), str(db.port), db.name)
    if result.rc == 0:
        return None
    return f"PostgreSQL at {inventory.vip.address}:{db.port}: {PG_ISREADY.get(result.rc, f'exit {result.rc}')}"


@check("xcat.site_master", phases=("post-activate", "active"),
       reads=lambda facts: facts.start_xcat(SITE_TABLE_QUERY))
def test_site_master(facts: NodeFacts, inventory: Inventory) -> None:
    """The site table's master, and its nameservers where set, are the VIP: nodes follow the VIP, not a node."""
    try:
        site = facts.site_table
    except FactError as exc:
        unreadable(facts, inventory, exc, "the site table readable through xcatd")
    vip = inventory.vip
    own = (str(vip.address), vip.hostname, vip.short_name)
    wrong = {}
    if site.get("master", "") not in own:
        wrong["master"] = site.get("master", "")
    nameservers = [n.strip() for n in site.get("nameservers", "").split(",") if n.strip()]
    if nameservers and any(n not in own and n != "<xcatmaster>" for n in nameservers):
        wrong["nameservers"] = site.get("nameservers", "")
    verdict(
        not wrong,
        observed="; ".join(f"site {k}={v or '<unset>'}" for k, v in wrong.items()),
        expected=f"site master={vip.address}" + (f", nameservers={vip.address}" if nameservers else ""),
        fix="chdef -t site " + " ".join(f"{k}={vip.address}" for k in wrong),
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
       reads=lambda facts: facts.start_xcat(NETWORKS_TABLE_QUERY))
def test_mgtifname(facts: NodeFacts, inventory: Inventory) -> None:
    """The provision network's mgtifname is the VIP's label (e.g. eth0:0)."""
    try:
        networks = facts.networks_table
    except FactError as exc:
        unreadable(facts, inventory, exc, "the networks table readable through xcatd")
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
