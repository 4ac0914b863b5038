"""The xCAT services: never started at boot; all running on the active node, none on the standby."""

from __future__ import annotations

import shlex

from xcatha_verify.checkkit import ACTIVE, PHASES, STANDBY, check, verdict
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import SITE_TABLE_QUERY, NodeFacts
from xcatha_verify.inventory import Inventory, Service

# States in which systemd will not start a unit at boot; "not-found" means it is not installed.
SAFE_AT_BOOT = {"disabled", "masked", "not-found"}
RUNNING = {"active", "activating", "reloading"}


@check("services.disabled_at_boot", phases=PHASES)
def test_services_disabled_at_boot(facts: NodeFacts, inventory: Inventory) -> None:
    """Every listed service is disabled (or masked) at boot: a rebooted node stays passive."""
    bad = {u: s for u, s in facts.unit_enabled.items() if s not in SAFE_AT_BOOT}
    verdict(
        not bad,
        observed=", ".join(f"{u}: {s}" for u, s in bad.items()),
        expected="disabled or masked at boot: " + ", ".join(s.unit for s in inventory.services),
        fix="; ".join(f"systemctl disable {shlex.quote(u)}" for u in bad),
    )


@check("services.stopped", phases=STANDBY)
def test_services_stopped(facts: NodeFacts, inventory: Inventory) -> None:
    """No listed service runs on this node."""
    running = [s.unit for s in facts.running_services]
    verdict(
        not running,
        observed="running: " + ", ".join(running),
        expected="stopped: " + ", ".join(s.unit for s in inventory.services),
        fix="; ".join(f"systemctl stop {shlex.quote(u)}" for u in reversed(running)),
    )


def expected_running(facts: NodeFacts, inventory: Inventory) -> tuple[list[Service], list[str]]:
    """The services the seed starts on an active node, and why others are left out."""
    wanted: list[Service] = []
    notes: list[str] = []
    for service in inventory.services:
        condition = service.condition
        if condition == "site_domain":
            try:
                domain = facts.site_domain
            except FactError as exc:
                notes.append(f"{service.unit}: cannot tell ({exc})")
                wanted.append(service)
                continue
            if domain is None:
                notes.append(f"{service.unit}: not expected (no domain in the site table)")
                continue
        elif condition in ("console_lock_conserver", "console_lock_goconserver"):
            lock = facts.console_lock
            if lock != condition.removeprefix("console_lock_"):
                notes.append(f"{service.unit}: not expected (console.lock names {lock or 'no console server'})")
                continue
        wanted.append(service)
    return wanted, notes


def _start_site_domain(facts: NodeFacts) -> None:
    if any(s.condition == "site_domain" for s in facts.inventory.services):
        facts.start_xcat(SITE_TABLE_QUERY)


@check("services.running", phases=ACTIVE, reads=_start_site_domain)
def test_services_running(facts: NodeFacts, inventory: Inventory) -> None:
    """Every service the seed starts on an active node runs.

    named and dhcpd when the site table has a domain; conserver or goconserver as the console lock says.
    """
    wanted, notes = expected_running(facts, inventory)
    stopped = [s.unit for s in wanted if facts.unit_active[s.unit] not in RUNNING]
    verdict(
        not stopped,
        observed="; ".join([*(f"{u}: {facts.unit_active[u]}" for u in stopped), *notes]),
        expected="running: " + ", ".join(s.unit for s in wanted),
        fix="; ".join(f"systemctl start {shlex.quote(u)}" for u in stopped),
    )
