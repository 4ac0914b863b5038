"""Reading the inventory file: YAML (strict: no duplicate keys, one document) validated once into the
model. Every error is one line naming the file, the key path (``nodes[1].static_ip``) and what was
expected. One table of rules, a function per key of the file in the file's own order: kept whole, so
that what a key accepts is read in one place.

The file is hostile until read: only a regular file is read (a FIFO or device is refused from the open
descriptor, unread), at most MAX_BYTES of it, and YAML's tree is bounded while it is composed (nesting
depth, values with aliases expanded, integer digits) before any Python object is built.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import math
import os
import posixpath
import re
import stat
from typing import Any, Literal, NoReturn, cast

import yaml

from xcatha_verify.errors import InventoryError
from xcatha_verify.inventory import model
from xcatha_verify.shellsafe import unsafe_characters

_CLUSTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_INTERFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_LABEL_SUFFIX = re.compile(r"[A-Za-z0-9_]+")
_UNIT = re.compile(r"(?!-)[A-Za-z0-9@_.:-]{1,255}")
_FSTYPE = re.compile(r"[a-z0-9.]+")
# A bind mount's source as findmnt prints it: the device, then the directory bound, in brackets.
_BOUND_DIR = re.compile(r"(?P<device>[^\[\]]+)\[(?P<dir>/[^\[\]]*)\]")
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SSH_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_SSH_URI = re.compile(r"ssh://(?:(?P<user>[^@/]*)@)?(?P<host>\[[^\]/]*\]|[^:/@\[\]]*)(?::(?P<port>[0-9]{1,5}))?")
_REQUIRED: Any = object()

# An inventory is a few kilobytes, four levels deep, with a few hundred values and no integer beyond a port:
# the limits leave it room a hundred times over and keep a hostile file's cost to about a second.
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 20_000  # scalars and collections, each alias counted as what it stands for ("billion laughs")
MAX_INT_DIGITS = 20  # int() of 4,300 digits raises; str() of a 5,000-digit hex value too
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}" if value else "an empty list"
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else f"a {type(value).__name__} of {len(text)} characters"
    return f"a {type(value).__name__}"


def _key_name(key: object) -> str:
    if isinstance(key, str) and re.fullmatch(r"[\w.-]{1,60}", key):
        return key
    text = repr(key)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _ip(text: str) -> model.IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_hostname(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and all(_DNS_LABEL.fullmatch(x) for x in labels) and _ip(text) is None


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


class _Reader:
    """One value at one key path of one inventory file; every error it raises names both."""

    __slots__ = ("key", "source", "value")

    def __init__(self, source: str, key: str, value: object) -> None:
        self.source, self.key, self.value = source, key, value

    def fail(self, expected: str, *, show: bool = True) -> NoReturn:
        found = f", found {_describe(self.value)}" if show else ""
        raise InventoryError(self.source, self.key, expected + found)

    def child(self, name: str, value: object) -> _Reader:
        return _Reader(self.source, f"{self.key}.{name}" if self.key else name, value)

    def mapping(self, *allowed: str) -> _Reader:
        if not isinstance(self.value, dict):
            self.fail("expected a mapping")
        unknown = [_key_name(key) for key in self.value if key not in allowed]
        if unknown:
            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            more = f"; also unknown: {', '.join(unknown[1:])}" if unknown[1:] else ""
            self.child(unknown[0], None).fail(
                f"unknown key{hint}; allowed keys: {', '.join(allowed)}{more}", show=False)
        return self

    def opt(self, name: str) -> _Reader | None:
        """The child `name` of a checked mapping, or None when absent or null."""
        value = cast("dict[str, object]", self.value).get(name)
        return None if value is None else self.child(name, value)

    def get(self, name: str, default: object = _REQUIRED) -> _Reader:
        """The child `name`, or a reader over `default` (validated the same way) when absent."""
        found = self.opt(name)
        if found is not None:
            return found
        if default is _REQUIRED:
            self.child(name, None).fail("required key is missing or empty", show=False)
        return self.child(name, default)

    def items(self) -> list[_Reader]:
        if not isinstance(self.value, list):
            self.fail("expected a list")
        return [_Reader(self.source, f"{self.key}[{i}]", item) for i, item in enumerate(self.value)]

    def text(self, pattern: re.Pattern[str] | None, expected: str) -> str:
        if not isinstance(self.value, str) or not (pattern.fullmatch(self.value) if pattern else self.value):
            self.fail(f"expected {expected}")
        return self.value

    def safe_text(self, expected: str) -> str:
        value = self.text(None, expected)
        if bad := unsafe_characters(value):
            self.fail(f"expected {expected} without whitespace or shell metacharacters ({bad!r} not allowed)")
        return value

    def choice(self, options: tuple[str, ...], expected: str = "") -> str:
        if not isinstance(self.value, str) or self.value not in options:
            self.fail(f"expected {expected or 'one of'} {', '.join(options)}")
        return self.value

    def integer(self, low: int, high: int, expected: str) -> int:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(f"expected {expected} from {low} to {high}")
        return value

    def hostname(self, expected: str) -> str:
        if not _is_hostname(str(self.value)):
            self.fail(f"expected {expected}")
        return self.text(None, expected)

    def address(self, prefix: int | None = None) -> model.IPAddress:
        """A unicast address; with `prefix`, also not the network or broadcast address of its IPv4 subnet."""
        ip = _ip(self.value) if isinstance(self.value, str) else None
        if ip is None:
            self.fail("expected an IPv4 or IPv6 address")
        if ip.is_multicast or ip.is_unspecified or ip.is_loopback:
            self.fail("expected a unicast host address")
        net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False) if prefix else None
        if net and ip.version == 4 and net.num_addresses > 2 and ip in (net[0], net[-1]):
            self.fail(f"expected a host address, not the network or broadcast address of {net}")
        return ip

    def path(self) -> str:
        value = self.safe_text("an absolute path")
        if value == "/" or value.startswith("//") or posixpath.normpath(value) != value or value[0] != "/":
            self.fail("expected a normalised absolute path (not '/', no '.', '..', '//' or trailing '/')")
        return value


# --- the inventory --------------------------------------------------------------------------------------


def _vip(r: _Reader) -> model.Vip:
    r.mapping("address", "prefix", "interface", "label", "hostname")
    address = r.get("address").address()
    prefix = r.get("prefix", 24).integer(1, address.max_prefixlen, f"an IPv{address.version} prefix length")
    r.get("address").address(prefix)  # now that the prefix is known: not the network/broadcast address
    interface = r.get("interface", "eth0").text(_INTERFACE, "an interface name of 1-15 A-Za-z0-9_.- (no ':')")
    label_r = r.get("label", f"{interface}:0")
    label = label_r.text(None, "a label string")
    suffix = label.removeprefix(f"{interface}:")
    if suffix == label or not _LABEL_SUFFIX.fullmatch(suffix) or len(label) > 15:
        label_r.fail(f"expected '{interface}:<suffix>' on vip.interface, suffix of A-Za-z0-9_, "
                     "at most 15 characters (IFNAMSIZ)")
    hostname = r.get("hostname").hostname("a host name (RFC 1123), e.g. xcatmn.cluster.com")
    return model.Vip(address, prefix, interface, label, hostname)


def _target(r: _Reader) -> str:
    value = r.text(None, "'local' or an ssh:// URI")
    if value in ("local", "local://"):
        return "local"
    match = _SSH_URI.fullmatch(value)
    if match is None:
        bare = "" if "://" in value else "; a bare host would make testinfra use the paramiko backend"
        r.fail(f"expected 'local' or ssh://[user@]host[:port] such as ssh://root@HOST{bare}")
    user, host, port = match.group("user", "host", "port")
    if host.startswith("["):
        good_host = (ip := _ip(host[1:-1])) is not None and ip.version == 6
    else:
        good_host = _ip(host) is not None or _is_hostname(host)  # ':' cannot reach here: no bare IPv6
    if not good_host:
        r.fail("expected a host name, IPv4 address or [IPv6] address in the ssh:// URI")
    if user is not None and not _SSH_USER.fullmatch(user):
        r.fail("expected a user name of A-Za-z0-9_.- in the ssh:// URI")
    if port is not None and not 1 <= int(port) <= 65535:
        r.fail("expected an ssh port from 1 to 65535")
    return value


def _node(r: _Reader, vip: model.Vip) -> model.Node:
    r.mapping("name", "target", "static_ip", "prefix", "network_config")
    name = r.get("name").hostname("a node name (RFC 1123 host name)")
    target = _target(r.get("target"))
    ip_r = r.get("static_ip")
    static_ip = ip_r.address()
    if static_ip.version != vip.address.version:
        ip_r.fail(f"expected an IPv{vip.address.version} address like vip.address")
    prefix = r.get("prefix", vip.prefix).integer(1, static_ip.max_prefixlen, "a prefix length")
    ip_r.address(prefix)
    if static_ip == vip.address:
        ip_r.fail("expected an address other than vip.address (the static IP stays, the VIP moves)")
    subnet = ipaddress.ip_interface(f"{static_ip}/{prefix}").network
    if vip.address not in subnet:
        ip_r.fail(f"expected a subnet containing vip.address {vip.address}, as both nodes must since either "
                  f"may hold the VIP; found {static_ip}/{prefix} in {subnet}", show=False)
    network_config = r.get("network_config", f"/etc/sysconfig/network-scripts/ifcfg-{vip.interface}").path()
    return model.Node(name, target, static_ip, prefix, network_config)


def _nodes(r: _Reader, vip: model.Vip) -> tuple[model.Node, ...]:
    items = r.items()
    if len(items) != 2:
        r.fail("expected exactly two nodes (the pair)")
    first, second = _node(items[0], vip), _node(items[1], vip)
    if second.name.lower() == first.name.lower():
        items[1].child("name", second.name).fail("expected a name other than nodes[0].name")
    if second.static_ip == first.static_ip:
        items[1].child("static_ip", str(second.static_ip)).fail("expected an IP unlike nodes[0].static_ip")
    if first.is_local and second.is_local:
        items[1].child("target", second.target).fail("expected at most one node with target 'local'")
    return first, second


def _database(r: _Reader) -> model.Database:
    r.mapping("type", "data_dir", "hba_file", "conf_file", "cfgloc", "port", "name", "clients")
    db_type = r.get("type", "postgresql").choice(model.DATABASE_TYPES)
    pg = db_type == "postgresql"
    data_dir = r.get("data_dir", "/var/lib/pgsql/data" if pg else "/var/lib/mysql").path()
    hba_r = r.opt("hba_file")
    hba_file = hba_r.path() if hba_r else (f"{data_dir}/pg_hba.conf" if pg else None)
    conf_file = r.get("conf_file", f"{data_dir}/postgresql.conf" if pg else "/etc/my.cnf").path()
    cfgloc = r.get("cfgloc", "/etc/xcat/cfgloc").path()
    port = r.get("port", 5432 if pg else 3306).integer(1, 65535, "a TCP port")
    name = r.get("name", "xcatdb").text(_DB_NAME, "a database name of A-Za-z0-9_")
    clients = tuple(item.address() for item in r.get("clients", []).items())
    return model.Database(cast("Literal['postgresql', 'mariadb']", db_type), data_dir, hba_file, conf_file,
                          cfgloc, port, name, clients)


def _mount_source(r: _Reader) -> str:
    """server:/export, /dev/sdb1, UUID=..., or a bind mount's source as findmnt prints it (dev[/dir])."""
    expected = "a mount source such as server:/export, /dev/sdb1, UUID=... or findmnt's dev[/dir] of a bind mount"
    value = r.text(None, expected)
    bound = _BOUND_DIR.fullmatch(value)
    for part in (bound["device"], bound["dir"]) if bound else (value,):
        if bad := unsafe_characters(part):
            r.fail(f"expected {expected} without whitespace or shell metacharacters ({bad!r} not allowed)")
    return value


def _shared_path(r: _Reader, shared_root: str | None) -> model.SharedPath:
    if isinstance(r.value, str):
        return model.SharedPath(r.path())
    if not isinstance(r.value, dict):
        r.fail("expected a path or a mapping {path, mode, source, fstype, root}")
    r.mapping("path", "mode", "source", "fstype", "root")
    path = r.get("path").path()
    mode = r.get("mode", "mount").choice(("mount", "symlink"))
    source_r, fstype_r, root_r = r.opt("source"), r.opt("fstype"), r.opt("root")
    source = _mount_source(source_r) if source_r else None
    fstype = fstype_r.text(_FSTYPE, "a file system type of a-z0-9.") if fstype_r else None
    root = root_r.path() if root_r else None
    if mode == "mount" and root_r:
        root_r.fail("expected no root for mode mount (root belongs to mode symlink)")
    if mode == "symlink":
        root = root or shared_root
        if root is None:
            r.child("root", None).fail("expected a root (or shared_root) for mode symlink", show=False)
        if _within(path, root) or _within(root, path):
            r.fail(f"expected a path outside its shared root {root} and the root outside the path", show=False)
    return model.SharedPath(path, cast("Literal['mount', 'symlink']", mode), source, fstype, root)


def _shared_data(r: _Reader, shared_root: str | None) -> tuple[model.SharedPath, ...]:
    entries: list[model.SharedPath] = []
    for item in r.items():
        entry = _shared_path(item, shared_root)
        if entry.path in (e.path for e in entries):
            item.fail(f"expected each path once, {entry.path} is listed twice", show=False)
        entries.append(entry)
    if not entries:
        r.fail("expected at least one shared path")
    return tuple(entries)


def _services(r: _Reader, db_type: str) -> tuple[model.Service, ...]:
    services: list[model.Service] = []
    for item in r.items():
        if isinstance(item.value, dict):
            role_r = item.mapping("role", "unit").get("role")
            role = role_r.choice(model.SERVICE_ROLES, "a service role, one of")
            unit = item.get("unit", role).text(_UNIT, "a systemd unit name of A-Za-z0-9@_.:-")
        else:
            role_r = item
            role = unit = item.choice(model.SERVICE_ROLES, "a service role (or {role, unit}), one of")
        if role in (s.role for s in services):
            role_r.fail("expected each service role once")
        if unit in (s.unit for s in services):
            item.fail(f"expected each unit once, {unit} is listed twice", show=False)
        if role in model.DATABASE_TYPES and role != db_type:
            role_r.fail(f"expected a single database role matching database.type ({db_type})")
        services.append(model.Service(role, unit))
    roles = [s.role for s in services]
    if "ntpd" in roles and "chronyd" in roles:
        r.fail("expected ntpd or chronyd, not both", show=False)
    if db_type not in roles or "xcatd" not in roles or roles.index(db_type) > roles.index("xcatd"):
        r.fail(f"expected {db_type} and then xcatd in the start order (xcatd needs its database)", show=False)
    return tuple(services)


def parse_inventory(data: object, source: str) -> model.Inventory:
    """The validated model of already-loaded YAML data; `source` names the file in errors."""
    top = _Reader(source, "", data)
    if data is None:
        top.fail("expected a mapping of inventory keys, found an empty file", show=False)
    if not isinstance(data, dict):
        top.fail("expected a mapping of inventory keys at the top level")
    top.mapping("cluster", "vip", "nodes", "shared_data", "shared_root", "services", "database", "clock",
                "mgt_networks", "ssh_config", "fence_command", "vip_hostname", "vip_nameserver")
    cluster = top.get("cluster").text(_CLUSTER, "a cluster name: A-Za-z0-9 then up to 62 of A-Za-z0-9_.-")
    vip = _vip(top.get("vip"))
    nodes = _nodes(top.get("nodes"), vip)
    database = _database(top.get("database", {}))
    root_r = top.opt("shared_root")
    shared_root = root_r.path() if root_r else None
    shared = _shared_data(top.get("shared_data", list(model.DEFAULT_SHARED_DATA)), shared_root)
    if not any(_within(database.data_dir, entry.path) for entry in shared):
        top.child("database.data_dir", database.data_dir).fail(
            "expected a directory inside shared_data, so the standby sees the same database")
    default_services = [database.type if role == "postgresql" else role for role in model.DEFAULT_SERVICES]
    services = _services(top.get("services", default_services), database.type)
    clock_r = top.get("clock", {}).mapping("tolerance_seconds").get("tolerance_seconds", 1.0)
    tolerance = clock_r.value
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 < tolerance < math.inf:
        clock_r.fail("expected a positive number of seconds")
    networks: list[str] = []
    for item in top.get("mgt_networks", []).items():
        name = item.safe_text("an xCAT network name (networks.netname)")
        if name in networks:
            item.fail("expected each network once")
        networks.append(name)
    ssh_r = top.opt("ssh_config")
    fence: list[str] = []
    for item in top.get("fence_command", []).items():
        if not isinstance(item.value, str) or not item.value or "\0" in item.value or "\n" in item.value:
            item.fail("expected a non-empty string (one argv word; no shell is involved)")
        fence.append(item.value)
    switches = {}
    for key in ("vip_hostname", "vip_nameserver"):
        item = top.get(key, False)
        if not isinstance(item.value, bool):
            item.fail("expected true or false")
        switches[key] = item.value
    return model.Inventory(source, cluster, vip, nodes, shared, services, database, model.Clock(float(tolerance)),
                     tuple(networks), ssh_r.path() if ssh_r else None, tuple(fence), **switches)


class _LimitError(Exception):
    """A limit of the reader crossed while the YAML tree is composed, at a key path and a place in the file."""

    def __init__(self, key: str, expected: str, mark: yaml.Mark) -> None:
        super().__init__(expected)
        self.key, self.expected, self.mark = key, expected, mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a repeated key must not silently win) and bounds the tree as it is
    composed: PyYAML's composer recurses once per level and aliases share nodes, so the depth and the expanded
    size are counted here, before Python's recursion limit or anything walking the data meets them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []  # the key path of the node being composed, one step per level
        self._values = 0
        self._depth = 0  # collections around the node being composed
        self._deepest = 0  # the deepest level reached in the collection being composed
        self._anchored: dict[object, tuple[int, int]] = {}  # anchored node -> (values, levels) an alias adds

    def _key(self) -> str:
        return "".join(self._path).lstrip(".")

    def _count(self, values: int, depth: int, mark: yaml.Mark) -> None:
        self._values += values
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH:
            raise _LimitError(self._key(), f"expected at most {MAX_DEPTH} levels of nesting, found more", mark)
        if self._values > MAX_VALUES:
            raise _LimitError(self._key(), f"expected at most {MAX_VALUES} values in the file (each alias counted "
                              "as what it stands for), found more", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            values, levels = self._anchored.get(node, (1, 0))  # an alias of a node still being composed: 1
            self._count(values, self._depth + levels, mark)
            return node
        if isinstance(index, int):
            step = f"[{index}]"
        else:  # a mapping's value is composed with its key node as index; a key, or the root, with None
            step = f".{_key_name(index.value)}" if isinstance(index, yaml.ScalarNode) else ""
        anchor = self.peek_event().anchor
        levels = 1 if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent) else 0
        outer_depth, outer_deepest, before = self._depth, self._deepest, self._values
        self._path.append(step)
        try:
            self._count(1, outer_depth + levels, mark)
            self._depth = self._deepest = outer_depth + levels
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
                digits = len(node.value.lstrip("+-").replace("_", ""))
                if digits > MAX_INT_DIGITS:
                    raise _LimitError(self._key(), f"expected an integer of at most {MAX_INT_DIGITS} digits, "
                                      f"found one of {digits}", mark)
            if anchor is not None:
                self._anchored[node] = (self._values - before, self._deepest - outer_depth)
        finally:
            self._path.pop()
            self._depth, self._deepest = outer_depth, max(outer_deepest, self._deepest)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # An explicit tag on a value it cannot take (`!!int abc`, `!!bool maybe`): PyYAML's own exception.
            tag = node.tag.removeprefix("tag:yaml.org,2002:")
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_describe(node.value)} as !!{tag}", node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _at(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _read(source: str) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_BYTES. Opened without blocking (a FIFO with no
    writer would wait forever) and judged by the descriptor's fstat, so what is judged is what would be read, even
    through a symlink or if the path is swapped; anything else is refused before a byte is read."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InventoryError(source, "", "file not found") from None
    except OSError as exc:
        raise InventoryError(source, "", f"file not readable ({_one_line(exc.strerror or str(exc))})") from None
    try:
        mode, size = (info := os.fstat(fd)).st_mode, info.st_size
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
            raise InventoryError(source, "", f"expected a regular file, found {kind}; not read")
        chunks: list[bytes] = []
        total = 0
        while size <= MAX_BYTES and total <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
        if max(size, total) > MAX_BYTES:  # st_size first: a 5 GB file is refused unread; a growing one at 1 MiB+1
            found = f"{size} bytes" if size > MAX_BYTES else "more"
            raise InventoryError(source, "", f"expected at most {MAX_BYTES} bytes (1 MiB), found {found}")
        return b"".join(chunks)
    except OSError as exc:
        raise InventoryError(source, "", f"file not readable ({_one_line(exc.strerror or str(exc))})") from None
    finally:
        os.close(fd)


def load_inventory(path: str | os.PathLike[str] | None = None) -> model.Inventory:
    """Read, parse and validate the inventory file (default DEFAULT_INVENTORY_PATH)."""
    source = os.fsdecode(model.DEFAULT_INVENTORY_PATH if path is None else path)
    raw = _read(source)
    key = (source, hashlib.sha256(raw).digest())
    if key in _PARSED:  # a runbook's gates read the same file a dozen times; the model is immutable
        return _PARSED[key]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError(source, "", f"expected UTF-8 text, found byte 0x{raw[exc.start]:02x} "
                                         f"at line {line}") from None
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader already rejects control characters here
        data = loader.get_single_data()
    except _LimitError as exc:
        raise InventoryError(source, exc.key, f"{exc.expected}{_at(exc.mark)}") from None
    except yaml.MarkedYAMLError as exc:
        problem = _one_line(", ".join(filter(None, (exc.context, exc.problem))) or "a syntax error")
        raise InventoryError(source, "", f"expected valid YAML; {problem}{_at(exc.problem_mark or exc.context_mark)}"
                             ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise InventoryError(source, "", f"expected valid YAML; unacceptable character "
                                         f"#x{exc.character:04x} at line {line}") from None
    finally:
        if loader is not None:
            loader.dispose()
    inventory = parse_inventory(data, source)
    _PARSED.clear()
    _PARSED[key] = inventory
    return inventory


_PARSED: dict[tuple[str, bytes], model.Inventory] = {}
