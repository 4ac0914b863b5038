"""The xCAT services: none may start at boot on either node (the seed: a rebooted node stays passive)."""

from __future__ import annotations

import shlex

from testinfra.host import Host

from xcatha_verify.checkkit import PHASES, check, verdict
from xcatha_verify.inventory import Inventory

# States in which systemd will not start a unit at boot; "not-found" means it is not installed.
SAFE_AT_BOOT = {"disabled", "masked", "not-found"}


def unit_boot_states(host: Host, units: list[str]) -> dict[str, str]:
    """`systemctl is-enabled` per unit, in one round trip."""
    script = "command -v systemctl >/dev/null || exit 127; " + "; ".join(
        f"printf '%s ' {shlex.quote(u)}; systemctl is-enabled {shlex.quote(u)} 2>/dev/null | head -n1 "
        "| grep . || echo not-found"
        for u in units
    )
    out = host.check_output(script)
    states = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {u: states.get(u, "unknown").strip() for u in units}


@check("services.disabled_at_boot", phases=PHASES)
def test_services_disabled_at_boot(host: Host, inventory: Inventory) -> None:
    """Every listed service is disabled (or masked) at boot."""
    units = [s.unit for s in inventory.services]
    states = unit_boot_states(host, units)
    bad = {u: s for u, s in states.items() if s not in SAFE_AT_BOOT}
    verdict(
        not bad,
        observed=", ".join(f"{u}: {s}" for u, s in bad.items()),
        expected="every service disabled or masked at boot: " + ", ".join(units),
        fix="; ".join(f"systemctl disable {shlex.quote(u)}" for u in bad),
    )
