"""Where everything of one lab lives: names, addresses and paths, derived from four settings."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from xcatha_verify.errors import UsageError

STATE_ROOT = Path("/run/xcatha-lab")
NODE_NAMES = ("xcatmn1", "xcatmn2")
# The cluster's compute nodes as xCAT knows them: name, host number on the lab subnet, MAC. The first
# is also on the lab network, as a namespace of its own (`compute_ns`): the cluster's view of the pair.
COMPUTE_NODES = (("cn1", 101, "02:00:00:00:01:01"), ("cn2", 102, "02:00:00:00:01:02"))
DOMAIN = "cluster.test"
VIP_HOSTNAME = f"xcatmn.{DOMAIN}"
DB_NAME = "xcatdb"
DB_USER = "xcatadm"
# The seed's shared-data list, each with the directory name it gets on the lab's storage.
SHARED_PATHS = {
    "/etc/xcat": "etc-xcat",
    "/install": "install",
    "/root/.xcat": "root-xcat",
    "/var/lib/pgsql": "var-lib-pgsql",
    "/tftpboot": "tftpboot",
}
PG_DATA = "/var/lib/pgsql/data"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# No tftp: on a management node xcatd runs in.tftpd itself (AAsn.pm stops any other at xcatd's start).
SERVICES = ("postgresql", "xcatd", "named", "dhcpd", "chronyd", "httpd", "conserver", "goconserver")
# A file on the shared data that the compute namespace fetches through the VIP, by HTTP and by TFTP.
PROBE_FILE = "xcatha-lab-probe.txt"
SHARED_EXPORT = "/xcatha-shared"  # where nodes reach the shared storage (like an NFS export)

_LAB_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,14}$")


@dataclass(frozen=True)
class LabLayout:
    """One lab's names, addresses and paths. Two labs with different names never share any."""

    name: str = "lab"
    subnet: ipaddress.IPv4Network = field(default_factory=lambda: ipaddress.IPv4Network("192.0.2.0/24"))
    interface: str = "eth0"
    label: str = "eth0:0"

    def __post_init__(self) -> None:
        if not _LAB_NAME.match(self.name):
            raise UsageError(f"lab name {self.name!r}: expected 1-8 lower-case letters or digits")
        if self.subnet.num_addresses < 16:
            raise UsageError(f"subnet {self.subnet}: expected an IPv4 network of at least 16 addresses")
        if not _IFNAME.match(self.interface):
            raise UsageError(f"interface {self.interface!r}: expected a Linux interface name")
        suffix = self.label.removeprefix(f"{self.interface}:")
        if suffix == self.label or not re.fullmatch(r"[A-Za-z0-9_]+", suffix) or len(self.label) > 15:
            raise UsageError(
                f"label {self.label!r}: expected '{self.interface}:<alias>' of at most 15 characters"
            )

    # --- addresses: the VIP is the 7th host as in the seed's 10.5.106.7, nodes .11 and .12
    @property
    def prefix(self) -> int:
        return self.subnet.prefixlen

    @property
    def vip(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 7

    def static_ip(self, node: str) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 11 + NODE_NAMES.index(node)

    @property
    def switch_ip(self) -> ipaddress.IPv4Address:
        # The runner's own address on the lab network (an "admin workstation").
        return self.subnet.broadcast_address - 1

    # --- names
    @property
    def tag(self) -> str:
        return f"xcatha-{self.name}"

    @property
    def switch_ns(self) -> str:
        return f"{self.tag}-sw"

    def node_ns(self, node: str) -> str:
        return f"{self.tag}-{node}"

    @property
    def compute_ns(self) -> str:
        """The namespace of the compute node cn1: an interface with cn1's MAC on the lab network."""
        return f"{self.tag}-{COMPUTE_NODES[0][0]}"

    def compute_ip(self, name: str) -> ipaddress.IPv4Address:
        return self.subnet.network_address + next(octet for n, octet, _mac in COMPUTE_NODES if n == name)

    @property
    def namespaces(self) -> list[str]:
        return [self.switch_ns, *(self.node_ns(n) for n in NODE_NAMES), self.compute_ns]

    # --- paths on the machine
    @property
    def state_file(self) -> Path:
        return STATE_ROOT / f"{self.name}.json"

    @property
    def base(self) -> Path:
        """A tmpfs of the lab's own: node layers, shared storage, keys, logs."""
        return STATE_ROOT / self.name

    @property
    def shared(self) -> Path:
        return self.base / "shared"

    def shared_dir(self, path: str) -> Path:
        return self.shared / SHARED_PATHS[path]

    def node_dir(self, node: str) -> Path:
        """A node's kept layer (upper, work), its mount point and its boot records."""
        return self.base / "nodes" / node

    def node_cgroup(self, node: str) -> str:
        """The name of the node's cgroup under the machine's cgroup2 root (its systemd's whole tree)."""
        return f"{self.tag}-{node}"

    @property
    def ssh_dir(self) -> Path:
        return self.base / "ssh"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"

    @property
    def control_dir(self) -> Path:
        return self.ssh_dir / "cm"

    @property
    def inventory(self) -> Path:
        return self.base / "inventory.yml"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "subnet": str(self.subnet), "interface": self.interface, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> LabLayout:
        return cls(
            name=data["name"],
            subnet=ipaddress.IPv4Network(data["subnet"]),
            interface=data["interface"],
            label=data["label"],
        )
