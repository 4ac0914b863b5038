"""The inventory model: an xCAT management-node pair as one validated value (``reader.py`` makes it
from the YAML file, once), with the defaults of the xCAT procedure "HA management node with shared
data" and its xcatha.py: the shared directories, the service start order, the VIP label ``eth0:0``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from xcatha_verify.errors import UsageError, escape_controls
from xcatha_verify.facts.conditions import SERVICE_CONDITIONS, Condition

DEFAULT_INVENTORY_PATH = "/etc/xcatha/inventory.yml"
DEFAULT_SHARED_DATA = ("/etc/xcat", "/install", "/root/.xcat", "/var/lib/pgsql", "/tftpboot")
DEFAULT_SERVICES = ("postgresql", "xcatd", "named", "dhcpd", "ntpd", "conserver", "goconserver")
# httpd (serving /install) and tftp (serving /tftpboot) are not in the seed's list: a site that
# provisions nodes adds them, and they are checked and moved like the others.
SERVICE_ROLES = ("postgresql", "mariadb", "xcatd", "named", "dhcpd", "ntpd", "chronyd", "httpd", "tftp",
                 "conserver", "goconserver")
DATABASE_TYPES = ("postgresql", "mariadb")
# xcatha.py starts named/dhcpd only when the site table has a domain; conserver or goconserver is the
# pair's console server (NodeFacts.console_choice: console.lock, site consoleservice, what is installed).

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class Vip:
    address: IPAddress
    prefix: int
    interface: str
    label: str
    hostname: str

    @property
    def short_name(self) -> str:
        return self.hostname.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    target: str  # "local" or ssh://[user@]host[:port]
    static_ip: IPAddress
    prefix: int
    network_config: str

    @property
    def is_local(self) -> bool:
        return self.target == "local"


@dataclass(frozen=True, slots=True)
class SharedPath:
    path: str
    mode: Literal["mount", "symlink"] = "mount"
    source: str | None = None  # what is mounted (at path, or at root for symlink mode)
    fstype: str | None = None
    root: str | None = None  # symlink mode: the shared root the symlink must point into


@dataclass(frozen=True, slots=True)
class Service:
    role: str
    unit: str

    @property
    def condition(self) -> Condition | None:
        """What the procedure's start of this service depends on (facts/conditions.py), None: nothing."""
        return SERVICE_CONDITIONS.get(self.role)


@dataclass(frozen=True, slots=True)
class Database:
    type: Literal["postgresql", "mariadb"]
    data_dir: str
    hba_file: str | None  # None for mariadb unless given
    conf_file: str
    cfgloc: str
    port: int
    name: str
    clients: tuple[IPAddress, ...] = ()  # further hosts reaching the database (service nodes, through the VIP)


@dataclass(frozen=True, slots=True)
class Clock:
    tolerance_seconds: float


@dataclass(frozen=True, slots=True)
class Inventory:
    source: str
    cluster: str
    vip: Vip
    nodes: tuple[Node, ...]
    shared_data: tuple[SharedPath, ...]
    services: tuple[Service, ...]  # start order
    database: Database
    clock: Clock
    mgt_networks: tuple[str, ...]
    ssh_config: str | None
    # An argv run on the operator's machine to fence a failed node ("{node}" is replaced by its name).
    fence_command: tuple[str, ...] = ()
    # What xcatha.py also does, for a site that relied on it (both off by default): the active node
    # takes the VIP's host name (its own is kept in /etc/xcat/ha_mn and restored at deactivation), and
    # its /etc/resolv.conf lists the VIP as its first nameserver.
    vip_hostname: bool = False
    vip_nameserver: bool = False

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(node.name for node in self.nodes)

    @property
    def database_service(self) -> Service:
        """The database's service (validation guarantees exactly one)."""
        return next(s for s in self.services if s.role in DATABASE_TYPES)

    @property
    def xcatd_unit(self) -> str:
        """xcatd's unit name (the inventory's, else xCAT's own `xcatd`)."""
        return next((s.unit for s in self.services if s.role == "xcatd"), "xcatd")

    @property
    def time_service(self) -> Service | None:
        return next((s for s in self.services if s.role in ("ntpd", "chronyd")), None)

    def pair_addresses(self) -> dict[str, str]:
        """The VIP and each node's static IP, address -> why: PostgreSQL listens on them and admits them."""
        wanted = {str(self.vip.address): "the VIP"}
        for node in self.nodes:
            wanted.setdefault(str(node.static_ip), f"{node.name}'s static IP")
        return wanted

    def database_clients(self) -> dict[str, str]:
        """Every host pg_hba.conf must admit, address -> why: the pair and database.clients."""
        further = {str(a): "a client in database.clients" for a in self.database.clients}
        return {**further, **self.pair_addresses()}

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise UsageError(escape_controls(f"unknown node {name!r} in {self.source}; known nodes: "
                                         f"{', '.join(self.node_names)}"))

    def peer_of(self, name: str) -> Node:
        me = self.node(name)
        return next(node for node in self.nodes if node is not me)

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the file's own shape, every default filled in (`source` is left out);
        `parse_inventory(inv.to_dict(), inv.source) == inv`."""
        data = _plain(self)
        del data["source"]
        return data


def _plain(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return value
