"""xCAT itself: cfgloc points at the VIP, xcatd answers, the provision network uses the VIP's label."""

from __future__ import annotations

import ipaddress

from xcatha_verify.checkkit import ACTIVE, check, fail, verdict
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.facts.xcat import parse_cfgloc, parse_lsdef
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


@check("xcat.xcatd", phases=("post-activate", "active"), reads=lambda facts: facts.start_xcat("lsxcatd -a"))
def test_xcatd_answers(facts: NodeFacts, inventory: Inventory) -> None:
    """xcatd answers `lsxcatd -a` and reports the database it uses."""
    result = facts.xcat("lsxcatd -a")
    timed_out = result.rc == 124
    answer = (result.stderr or result.stdout).strip().splitlines()
    verdict(
        result.rc == 0 and "dbengine=" in result.stdout,
        observed="no answer within the time limit (xcatd hung?)" if timed_out
        else f"lsxcatd -a exit {result.rc}: {answer[-1] if answer else 'no output'}",
        expected="lsxcatd -a answers with the management node's version and database",
        fix="systemctl restart xcatd (PostgreSQL must be running and the VIP up)",
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
       reads=lambda facts: facts.start_xcat("lsdef -t network -l"))
def test_mgtifname(facts: NodeFacts, inventory: Inventory) -> None:
    """The provision network's mgtifname is the VIP's label (e.g. eth0:0)."""
    result = facts.xcat("lsdef -t network -l")
    if result.rc != 0:
        fail(observed=f"lsdef -t network -l failed: {(result.stderr or result.stdout).strip()}",
                expected="the networks table readable", fix="systemctl start xcatd")  # fmt: skip
    networks = parse_lsdef(result.stdout)
    names = _networks_to_check(inventory, networks)
    label = inventory.vip.label
    wrong = {n: networks.get(n, {}).get("mgtifname", "<missing network>") for n in names}
    wrong = {n: v for n, v in wrong.items() if v != label}
    verdict(
        bool(names) and not wrong,
        observed="; ".join(f"{n}: mgtifname={v}" for n, v in wrong.items())
        or f"no network in the networks table contains {inventory.vip.address}",
        expected=f"mgtifname={label} for " + (", ".join(names) or f"the network containing {inventory.vip.address}"),
        fix="; ".join(f"chdef -t network -o {n} mgtifname={label}" for n in wrong) or "mkdef the provision network",
    )
