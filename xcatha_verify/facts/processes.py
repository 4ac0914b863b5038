"""What runs on a node, whatever started it: the processes of each service role, from one `ps`.

A unit's state says what systemd started; a daemon started by hand (``named -u bind`` at 3 a.m.) or
left over by a killed unit runs all the same, answers on the cluster's ports and is invisible to
``systemctl``. These facts find it by its process name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xcatha_verify.facts.network import FactError

if TYPE_CHECKING:
    from xcatha_verify.facts.node import NodeFacts
    from xcatha_verify.inventory import Service

# Each service role's daemon, as the kernel names the process (comm, at most 15 characters). xcatd
# is Perl renaming itself ("xcatd: SSL listener"), so a prefix; the others are exact names.
SERVICE_PROCESSES: dict[str, tuple[str, ...]] = {
    "postgresql": ("postgres", "postmaster"),
    "mariadb": ("mariadbd", "mysqld"),
    "xcatd": ("xcatd",),
    "named": ("named",),
    "dhcpd": ("dhcpd",),
    "ntpd": ("ntpd",),
    "chronyd": ("chronyd",),
    "httpd": ("httpd", "apache2"),
    "tftp": ("in.tftpd",),
    "conserver": ("conserver",),
    "goconserver": ("goconserver",),
}
PREFIX_NAMES = ("xcatd",)
PROCESS_LIST = "ps -e -o pid= -o ppid= -o comm="


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    name: str


def parse_processes(text: str) -> list[Process]:
    """`ps -e -o pid= -o ppid= -o comm=` output; FactError on a line that is not "PID PPID NAME"."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise FactError(f"ps printed a line that is not 'PID PPID NAME': {line.strip()!r}")
        found.append(Process(int(parts[0]), int(parts[1]), parts[2].strip()))
    return found


def is_role_process(name: str, role: str) -> bool:
    """Whether a process of this name (comm) is one of the role's daemons."""
    names = SERVICE_PROCESSES.get(role, ())
    return any(name == n or (n in PREFIX_NAMES and name.startswith(n)) for n in names)


def role_processes(processes: list[Process], role: str) -> list[Process]:
    """The role's daemons that are not children of another of its processes (whom to stop: the parent).

    PostgreSQL's backends, dhcpd's or apache2's workers go with their parent; a process whose parent
    is of the same role is left out.
    """
    ours = [p for p in processes if is_role_process(p.name, role)]
    pids = {p.pid for p in ours}
    return [p for p in ours if p.ppid not in pids]


def daemons_outside_units(facts: NodeFacts) -> list[tuple[Service, Process]]:
    """Each listed service's daemons running on the node while its unit is not: started by hand, or left
    behind (``systemctl stop`` would not end them). FactError when ps fails or prints nonsense."""
    listing = facts.run(PROCESS_LIST)
    if listing.rc != 0:
        raise FactError(f"{PROCESS_LIST} on {facts.node.name}: exit {listing.rc}: {listing.stderr.strip()}")
    processes = parse_processes(listing.stdout)
    running = {s.unit for s in facts.running_services}
    idle = [s for s in facts.inventory.services if s.unit not in running]
    return [(s, p) for s in idle for p in role_processes(processes, s.role)]
