"""What listens on a node, as the kernel says (`ss -Hlntup`): each socket's protocol, port and the
processes that hold it. A unit can be active while its daemon listens nowhere (a bind that failed, a
port changed in its configuration); this is what the cluster's nodes actually reach."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError

LISTENING = "ss -Hlntup"
# The port each service role serves the cluster on, by protocol; xcatd's comes from the site table.
# Not conserver: after a (re)start its children listen at once and the master binds 782 only later,
# so judging it raised a false alarm on a healthy pair (benchmarks/false_alarms.py in CI).
SERVICE_PORTS: dict[str, tuple[str, int]] = {
    "named": ("udp", 53), "dhcpd": ("udp", 67), "httpd": ("tcp", 80), "goconserver": ("tcp", 12429),
}  # fmt: skip
XCATD_DEFAULT_PORT = 3001
# conserver's port, judged where nothing of it may run (the standby): its late bind does not matter there.
CONSERVER_PORT = ("tcp", 782)
_WILDCARDS = {"*", "0.0.0.0", "::"}  # noqa: S104 (addresses read, never bound)
_USERS = re.compile(r'\("([^"]+)",pid=(\d+)')


@dataclass(frozen=True)
class Listener:
    protocol: str  # tcp or udp
    address: str
    port: int
    processes: tuple[tuple[str, int], ...]  # (name, pid), as ss names them (comm, 15 characters)


def parse_listening(text: str) -> list[Listener]:
    found = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) < 5 or words[0] not in ("tcp", "udp") or ":" not in words[4]:
            raise FactError(f"ss printed a line that is not a listening socket: {line.strip()[:120]!r}")
        address, _, port = words[4].rpartition(":")
        if not port.isdigit():
            raise FactError(f"ss printed a socket without a port: {line.strip()[:120]!r}")
        users = tuple((name, int(pid)) for name, pid in _USERS.findall(line))
        found.append(Listener(words[0], address, int(port), users))
    return found


def bare_address(address: str) -> str:
    """ss's address without brackets or its %interface suffix: "[::]" -> "::", "127.0.0.53%lo" -> "127.0.0.53"."""
    return address.strip("[]").split("%", 1)[0]


def collides(address: str, own: set[str]) -> bool:
    """Whether a socket bound on `address` keeps a daemon from binding its port on the node's `own`
    addresses: a wildcard socket does, one on another address (libvirt's dnsmasq on its bridge) does not."""
    bare = bare_address(address)
    return bare in _WILDCARDS or bare in own
