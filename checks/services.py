"""The xCAT services: never started at boot; all running on the active node, none on the standby."""

from __future__ import annotations

import shlex

from xcatha_verify.checkkit import ACTIVE, ON_SHARED_DATA, PHASES, STANDBY, check, fail, note, verdict
from xcatha_verify.facts.conditions import condition_holds, is_console_condition
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.facts.processes import PROCESS_LIST, daemons_outside_units, is_role_process
from xcatha_verify.facts.sockets import (
    CONSERVER_PORT,
    LISTENING,
    SERVICE_PORTS,
    XCATD_DEFAULT_PORT,
    collides,
    parse_listening,
)
from xcatha_verify.inventory import Inventory, Service
from xcatha_verify.xcatd_reads import unreadable

# States in which systemd will not start a unit at boot; "not-found" means it is not installed.
SAFE_AT_BOOT = {"disabled", "masked", "not-found"}
RUNNING = {"active", "activating", "reloading"}
CONSOLE_ROLES = ("conserver", "goconserver")


@check("services.disabled_at_boot", phases=PHASES)
def check_services_disabled_at_boot(facts: NodeFacts, inventory: Inventory) -> None:
    """Every listed service is disabled (or masked) at boot: a rebooted node stays passive."""
    bad = {u: s for u, s in facts.unit_enabled.items() if s not in SAFE_AT_BOOT}
    verdict(
        not bad,
        observed=", ".join(f"{u}: {s}" for u, s in bad.items()),
        expected="disabled or masked at boot: " + ", ".join(s.unit for s in inventory.services),
        fix="; ".join(f"systemctl disable {shlex.quote(u)}" for u in bad),
    )


@check("services.stopped", phases=STANDBY, reads=lambda facts: facts.start(PROCESS_LIST))
def check_services_stopped(facts: NodeFacts, inventory: Inventory) -> None:
    """No listed service runs on this node: no unit active, and none of their daemons started another way."""
    running = [s.unit for s in facts.running_services]
    stray = daemons_outside_units(facts)
    seen = ([f"running: {', '.join(running)}"] if running else []) + [
        f"{p.name} (pid {p.pid}) runs although {s.unit} is inactive" for s, p in stray
    ]
    verdict(
        not seen,
        observed="; ".join(seen),
        expected="stopped, and no daemon of theirs running: " + ", ".join(s.unit for s in inventory.services),
        fix="; ".join([f"systemctl stop {shlex.quote(u)}" for u in reversed(running)]
                      + [f"kill {p.pid}" for _, p in stray]),
    )  # fmt: skip


def _port_of(inventory: Inventory, service: Service, xcatd_port: int, ports: dict[str, tuple[str, int]]
             ) -> tuple[str, int] | None:  # fmt: skip
    """(protocol, port) the service serves the cluster on, from the inventory, xcatd's port and `ports`
    by role; None for a role without one known here."""
    if service.role == inventory.database_service.role:
        return "tcp", inventory.database.port
    if service.role == "xcatd":
        return "tcp", xcatd_port
    return ports.get(service.role)


@check("services.ports_free", phases=STANDBY, reads=lambda facts: facts.start(LISTENING))
def check_services_ports_free(facts: NodeFacts, inventory: Inventory) -> None:
    """No other program holds a port a service will listen on after activation: it could not start there.

    Sockets on the node's static IP, the VIP or a wildcard address count (one on another address, such
    as libvirt's dnsmasq on its bridge, does not collide); the services' own daemons are
    services.stopped's to report.
    """
    own = {str(inventory.vip.address), str(facts.node.static_ip)}
    # xcatd's default port: the site table that may move it is on the shared data, not connected here.
    standby_ports = {**SERVICE_PORTS, "conserver": CONSERVER_PORT}
    ports = {port: service for service in inventory.services
             if (port := _port_of(inventory, service, XCATD_DEFAULT_PORT, standby_ports))}  # fmt: skip
    held = [(service, f"{sock.port}/{sock.protocol}", sock.address, name, pid)
            for sock in parse_listening(facts.run(LISTENING).stdout)
            if (service := ports.get((sock.protocol, sock.port))) and collides(sock.address, own)
            for name, pid in sock.processes if not is_role_process(name, service.role)]  # fmt: skip
    note("free: " + ", ".join(f"{number}/{protocol} ({s.unit})" for (protocol, number), s in ports.items()))
    verdict(
        not held,
        observed="; ".join(f"{name} (pid {pid}) holds {port} on {address}, {service.unit}'s port"
                           for service, port, address, name, pid in held),
        expected="free for the services: " + ", ".join(f"{n}/{p} ({s.unit})" for (p, n), s in ports.items()),
        fix="; ".join(dict.fromkeys(f"kill {pid}" for *_, pid in held))
        + "  # or move that program off the port (it is not one of the pair's services)",
    )  # fmt: skip


def expected_running(facts: NodeFacts, inventory: Inventory) -> tuple[list[Service], list[str]]:
    """The services the seed starts on an active node, and why others are left out."""
    wanted: list[Service] = []
    notes: list[str] = []
    for service in inventory.services:
        condition = service.condition
        if condition is not None:
            try:
                holds, why = condition_holds(facts, condition)
            except FactError as exc:
                if is_console_condition(condition):  # one console server or the other: expecting both is wrong
                    notes.append(f"{service.unit}: cannot tell whether expected ({exc})")
                    continue
                notes.append(f"{service.unit}: cannot tell ({exc})")
                holds = True
            if not holds:
                notes.append(f"{service.unit}: not expected ({why})")
                continue
        wanted.append(service)
    return wanted, notes


def _start_site_table(facts: NodeFacts) -> None:
    """The site table, read when a listed service's condition may need it."""
    if any(s.condition for s in facts.inventory.services):
        facts.start_database_tables()


@check("services.running", phases=ACTIVE, reads=_start_site_table)
def check_services_running(facts: NodeFacts, inventory: Inventory) -> None:
    """Every service the seed starts on an active node runs.

    named and dhcpd when the site table has a domain; conserver or goconserver as the pair's console
    server is chosen (`NodeFacts.console_choice`).
    """
    wanted, notes = expected_running(facts, inventory)
    stopped = [s.unit for s in wanted if facts.unit_active[s.unit] not in RUNNING]
    # Exactly the console server the pair uses: the other one running too serves the consoles twice.
    chosen_console = [s for s in wanted if s.role in CONSOLE_ROLES]
    other_console = [s.unit for s in inventory.services if s.role in CONSOLE_ROLES and chosen_console
                     and s not in wanted and facts.unit_active[s.unit] in RUNNING]  # fmt: skip
    beside = [f"{u} runs beside {chosen_console[0].unit}, the pair's console server" for u in other_console]
    verdict(
        not stopped and not other_console,
        observed="; ".join([*(f"{u}: {facts.unit_active[u]}" for u in stopped), *beside, *notes]),
        expected="running: " + ", ".join(s.unit for s in wanted) + ", and no other console server",
        fix="; ".join([*(f"systemctl start {shlex.quote(u)}" for u in stopped),
                       *(f"systemctl stop {shlex.quote(u)}" for u in other_console)]),
    )  # fmt: skip


@check("services.console_server", phases=ACTIVE, reads=_start_site_table, needs=ON_SHARED_DATA)
def check_console_server(facts: NodeFacts, inventory: Inventory) -> None:
    """The pair's console server is named without contradiction, and installed.

    /etc/xcat/console.lock and the site table's `consoleservice` must not name different servers (the
    lock wins today; the next pair without it would start the other one).
    """
    lock = facts.console_lock
    try:
        chosen, why = facts.console_choice
        service = facts.site_table.get("consoleservice", "").strip()
    except FactError as exc:
        if lock is None:  # the choice itself needs the site table
            unreadable(facts, inventory, exc, "the site table readable from xCAT's database (no console.lock)")
        # The lock decides; whether consoleservice agrees is for the next read (xcat.xcatd says why not now).
        chosen, why, service = lock, f"console.lock names {lock} (site consoleservice not read: {exc})", ""
    if lock and service and service != lock:
        fail(observed=f"console.lock names {lock}; site consoleservice={service}",
             expected="console.lock and the site table's consoleservice name the same console server",
             fix=f"chdef -t site consoleservice={lock}")  # fmt: skip
    if chosen is None:
        fail(observed=why, expected="conserver or goconserver as the console server",
             fix="chdef -t site consoleservice=conserver")  # fmt: skip
    unit = next((s.unit for s in inventory.services if s.role == chosen), None)
    installed = unit is not None and facts.unit_states.get(unit, ("not-found", ""))[0] != "not-found"
    verdict(
        installed,
        observed=f"{why}; {chosen} is " + ("not among the inventory's services" if unit is None else "not installed"),
        expected=f"the console server {chosen} installed and listed",
        fix=f"add {chosen} to the inventory's services" if unit is None else f"install {chosen}",
    )


def _start_listening(facts: NodeFacts) -> None:
    facts.start(LISTENING)
    _start_site_table(facts)


def _xcatd_port(facts: NodeFacts) -> int:
    """xcatd's port from the site table (xcatdport), else xCAT's default."""
    try:
        port = facts.site_table.get("xcatdport", "").strip()
    except FactError:
        port = ""  # xcat.xcatd says why the table cannot be read; xCAT's default is then the best guess
    return int(port) if port.isdigit() else XCATD_DEFAULT_PORT


@check("services.listening", phases=ACTIVE, reads=_start_listening)
def check_services_listening(facts: NodeFacts, inventory: Inventory) -> None:
    """Each running service's daemon listens on its port (the database's, the site's xcatdport, DNS 53,
    DHCP 67/udp, HTTP 80, goconserver 12429): a unit can be active while nothing listens.

    A service that does not run is services.running's to report; time services are left out (chronyd
    listens only where it serves).
    """
    wanted, _notes = expected_running(facts, inventory)
    listeners = parse_listening(facts.run(LISTENING).stdout)
    xcatd_port = _xcatd_port(facts) if any(s.role == "xcatd" for s in wanted) else XCATD_DEFAULT_PORT
    deaf: list[tuple[str, str]] = []
    judged: list[str] = []
    for service in wanted:
        port = _port_of(inventory, service, xcatd_port, SERVICE_PORTS)
        if port is None or facts.unit_active[service.unit] not in RUNNING:
            continue
        protocol, number = port
        judged.append(f"{service.unit} {number}/{protocol}")
        holders = {name for sock in listeners if (sock.protocol, sock.port) == port for name, _ in sock.processes}
        if any(is_role_process(name, service.role) for name in holders):
            continue
        elsewhere = sorted({f"{sock.port}/{sock.protocol}" for sock in listeners
                            if any(is_role_process(name, service.role) for name, _ in sock.processes)})
        deaf.append((service.unit, f"{service.unit} runs but does not listen on {number}/{protocol}"
                     + (f" ({', '.join(sorted(holders))} does)" if holders else "")
                     + (f"; its daemon listens on {', '.join(elsewhere)}" if elsewhere else "")))
    note("listening: " + (", ".join(judged) or "none of the running services has a port known here"))
    verdict(
        not deaf,
        observed="; ".join(why for _, why in deaf),
        expected="listening: " + ", ".join(judged),
        fix="; ".join(f"systemctl restart {shlex.quote(unit)}" for unit, _ in deaf)
        + "  # if it still does not listen there: its configuration moved the port (set it back), or another "
        "process holds it (journalctl -u UNIT -n 50 says)",
    )
