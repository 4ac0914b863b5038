"""Stand-in for xCAT's daemon ``xcatd``: lab test equipment, not xCAT.

Run as ``python -m xcatha_verify.lab.standins.xcatd [--port 3001] [--bind 0.0.0.0]
[--cfgloc /etc/xcat/cfgloc] [--root /]``.

At start it reads cfgloc and runs ``select 1`` against the PostgreSQL database named there; if
that fails it prints xCAT's database error and exits 1. Then it listens (threaded TCP server,
SO_REUSEADDR) and, when ``NOTIFY_SOCKET`` is set, sends ``READY=1`` and ``MAINPID`` to it (systemd
``Type=notify``; a leading ``@`` means an abstract socket). SIGTERM stops it.

Protocol (not xCAT's XML over SSL): the client sends one JSON line
``{"command": "lsdef", "args": ["-t", "site"], "cwd": "/root"}`` and gets one JSON line
``{"rc": 0, "stdout": "...", "stderr": "..."}`` back. ``cwd`` is accepted and unused.

Every request re-reads cfgloc and queries PostgreSQL through ``psql`` (see :mod:`.db`); when
the database does not answer the reply is rc 1 with xCAT's "Could not connect to the database"
error. The commands and the files they write are listed in ``HANDLERS`` and in each handler's
docstring. ``--root`` prefixes every file path read or written here (cfgloc too) so tests can
use a temporary directory; paths written *inside* generated files are node paths, as if
``--root`` were the node's ``/``. Services are driven with ``systemctl`` (or the command in
env ``XCATHA_SYSTEMCTL``, split like a shell word list). The database password is never
logged or returned; request arguments are not logged either.
"""

from __future__ import annotations

import argparse
import contextlib
import getopt
import ipaddress
import json
import logging
import os
import re
import shlex
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xcatha_verify.lab.standins import db

VERSION = "2.16.5 (lab stand-in)"
DEFAULT_PORT = 3001
MAX_REQUEST_BYTES = 1 << 20
SYSTEMCTL_TIMEOUT = 120.0
log = logging.getLogger("xcatha_verify.lab.standins.xcatd")

# xCAT tables the stand-in knows, columns in xCAT's order (must match schema.sql), and their keys.
TABLES: dict[str, tuple[str, ...]] = {
    "site": ("key", "value", "comments", "disable"),
    "networks": ("netname", "net", "mask", "mgtifname", "gateway", "dhcpserver", "tftpserver",
                 "nameservers", "ntpservers", "dynamicrange", "mtu", "comments", "disable"),
    "nodelist": ("node", "groups", "status", "comments", "disable"),
    "hosts": ("node", "ip", "hostnames", "comments", "disable"),
    "mac": ("node", "interface", "mac", "comments", "disable"),
    "policy": ("priority", "name", "host", "commands", "noderange", "parameters", "time", "rule", "comments",
               "disable"),
}
TABLE_KEYS = {"site": "key", "networks": "netname", "nodelist": "node", "hosts": "node", "mac": "node",
              "policy": "priority"}
# lsdef/chdef attribute name -> networks column; xCAT shows "comments" as "usercomment".
NETWORK_ATTRS: dict[str, str] = {c: c for c in TABLES["networks"][1:-2]} | {"usercomment": "comments"}
SITE_OBJECT = "clustersite"
ENABLED = "coalesce(disable, '') not in ('1', 'yes')"  # xCAT hides rows whose disable is 1/yes

_SITE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")

USAGE: dict[str, str] = {
    "lsdef": "Usage: lsdef -t site|network [-o name[,name]] [-l] [-i attr[,attr]] [name]",
    "tabdump": "Usage: tabdump [" + "|".join(TABLES) + "]",
    "chdef": "Usage: chdef -t site|network [-o name] attr=value [attr=value ...]",
    "lsxcatd": "Usage: lsxcatd [-v|-d|-a]",
    "makedns": "Usage: makedns -n",
    "makedhcp": "Usage: makedhcp -n | -a",
    "makeconservercf": "Usage: makeconservercf",
    "makegocons": "Usage: makegocons",
}


class CommandError(Exception):
    """Ends a command with rc 1 and ``Error: [host]: <message>`` on stderr."""


class UsageError(CommandError):
    """Ends a command with rc 1 and its usage text on stderr."""


class HelpRequested(Exception):
    """``-h``: usage on stdout, rc 0."""


@dataclass
class Result:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class Reply:
    """stdout lines a handler has produced so far (kept even when it then fails)."""

    lines: list[str] = field(default_factory=list)

    def out(self, line: str = "") -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


@dataclass(frozen=True)
class Context:
    root: Path
    cfgloc: str = "/etc/xcat/cfgloc"

    @property
    def hostname(self) -> str:
        return socket.gethostname()

    def path(self, node_path: str) -> Path:
        """The file behind a node path, under --root."""
        return self.root / node_path.lstrip("/")

    def dbconfig(self) -> db.CfgLoc:
        """cfgloc, read afresh."""
        return db.read_cfgloc(self.path(self.cfgloc))

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(os.environ.get("XCATHA_SYSTEMCTL", "systemctl")) + list(args)
        log.info("running %s", shlex.join(argv))
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return subprocess.CompletedProcess(argv, 1, "", str(exc))


Handler = Callable[[Context, list[str], Reply], None]


# ----------------------------------------------------------------------------- helpers


def _opts(command: str, args: list[str], short: str) -> tuple[dict[str, str], list[str]]:
    try:
        pairs, rest = getopt.gnu_getopt(args, short)
    except getopt.GetoptError as exc:
        raise UsageError(str(exc)) from None
    opts = {flag.lstrip("-"): value for flag, value in pairs}
    if "h" in opts:
        raise HelpRequested(command)
    return opts, rest


def _split(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write atomically (temporary file, then rename), creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _backup(path: Path) -> bool:
    """Rename an existing file to ``<name>.xcatbak``; True if there was one."""
    if not path.exists():
        return False
    os.replace(path, path.with_name(path.name + ".xcatbak"))
    return True


def _site(cfg: db.CfgLoc) -> dict[str, str]:
    # SQL text below is built only from the constant identifiers above; values are psql variables.
    rows = db.query(cfg, f"select key, value from site where {ENABLED} and coalesce(value, '') <> ''")  # noqa: S608
    return {row["key"]: row["value"] for row in rows}


def _networks(cfg: db.CfgLoc) -> list[dict[str, Any]]:
    columns = ", ".join(TABLES["networks"])
    return db.query(cfg, f"select {columns} from networks where {ENABLED} order by netname")  # noqa: S608


def _nodes(cfg: db.CfgLoc) -> list[str]:
    rows = db.query(cfg, f"select node from nodelist where {ENABLED} order by node")  # noqa: S608
    for row in rows:
        if not _NAME.match(row["node"]):
            raise CommandError(f"Node name {row['node']!r} is not a valid host name.")
    return [row["node"] for row in rows]


def _restart(ctx: Context, unit: str, action: str = "restart") -> None:
    proc = ctx.systemctl(action, unit)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise CommandError(f"Failed to {action} {unit}" + (f": {detail}" if detail else "."))


def _is_active(ctx: Context, unit: str) -> bool:
    return ctx.systemctl("is-active", unit).returncode == 0


def _object_lines(name: str, attrs: dict[str, str], wanted: list[str]) -> list[str]:
    keys = sorted(k for k in attrs if not wanted or k in wanted)
    return [f"Object name: {name}"] + [f"    {k}={attrs[k]}" for k in keys]


# ----------------------------------------------------------------------------- commands


def cmd_lsdef(ctx: Context, args: list[str], reply: Reply) -> None:
    """lsdef -t site|network: read site key/value rows or networks rows (reads only the database)."""
    opts, rest = _opts("lsdef", args, "t:o:i:lh")
    objtype = opts.get("t")
    names = _split(opts.get("o", "")) + [n for word in rest for n in _split(word)]
    wanted = _split(opts.get("i", ""))
    if objtype not in ("site", "network"):
        raise UsageError(f"Object type {objtype!r} is not supported by the lab stand-in." if objtype
                         else "Specify an object type with -t.")
    cfg = ctx.dbconfig()
    if objtype == "site":
        for name in names:
            if name != SITE_OBJECT:
                raise CommandError(f"Could not find an object named '{name}' of type 'site'.")
        reply.lines += _object_lines(SITE_OBJECT, _site(cfg), wanted)
        return
    networks = {row["netname"]: row for row in _networks(cfg)}
    missing = [n for n in names if n not in networks]
    shown = [n for n in names if n in networks] if names else list(networks)
    if not (names or wanted or "l" in opts):
        reply.lines += [f"{name}  (network)" for name in shown]
    else:
        for name in shown:
            row = networks[name]
            attrs = {attr: row[col] for attr, col in NETWORK_ATTRS.items() if row[col] not in (None, "")}
            reply.lines += _object_lines(name, attrs, wanted)
    if missing:
        raise CommandError("\n".join(
            f"Could not find an object named '{n}' of type 'network'." for n in missing))


def cmd_tabdump(ctx: Context, args: list[str], reply: Reply) -> None:
    """tabdump [-f FILE] TABLE: the table as CSV, header ``#col,...``, values double-quoted, NULL empty.

    With -f the CSV goes to FILE and nothing is printed, as xCAT's tabdump -f does (what `tabrestore`
    reads back); FILE must be absolute here (the stand-in does not use the client's directory).
    """
    opts, rest = _opts("tabdump", args, "hf:")
    if len(rest) > 1:
        raise UsageError("")
    if not rest:
        reply.lines += list(TABLES)
        return
    table = rest[0]
    if table not in TABLES:
        raise CommandError(f"No such table: {table}")
    columns = TABLES[table]
    select = f"select {', '.join(columns)} from {table} order by {TABLE_KEYS[table]}"  # noqa: S608
    rows = db.query(ctx.dbconfig(), select)
    lines = ["#" + ",".join(columns)] + [
        ",".join("" if row[c] is None else '"' + str(row[c]).replace('"', '""') + '"' for c in columns)
        for row in rows
    ]
    if "f" in opts:
        if not opts["f"].startswith("/"):
            raise UsageError("tabdump -f: give an absolute path")
        _write(ctx.path(opts["f"]), "\n".join(lines) + "\n")
        return
    for line in lines:
        reply.out(line)


def cmd_chdef(ctx: Context, args: list[str], reply: Reply) -> None:
    """chdef -t site|network: upsert site keys or update an existing networks row."""
    opts, rest = _opts("chdef", args, "t:o:h")
    objtype = opts.get("t")
    assigns: dict[str, str] = {}
    names = _split(opts.get("o", ""))
    for word in rest:
        if "=" in word:
            attr, _, value = word.partition("=")
            assigns[attr] = value
        else:
            names += _split(word)
    if objtype not in ("site", "network"):
        raise UsageError(f"Object type {objtype!r} is not supported by the lab stand-in." if objtype
                         else "Specify an object type with -t.")
    if not assigns:
        raise UsageError("No attributes were specified.")
    variables: dict[str, str] = {}
    statements: list[str] = []
    if objtype == "site":
        for name in names:
            if name != SITE_OBJECT:
                raise CommandError(f"Could not find an object named '{name}' of type 'site'.")
        for i, (attr, value) in enumerate(assigns.items()):
            if not _SITE_KEY.match(attr):
                raise CommandError(f"'{attr}' is not a valid attribute name for an object type of 'site'.")
            variables |= {f"k{i}": attr, f"v{i}": value}
            statements.append(f"insert into site (key, value) values (:'k{i}', nullif(:'v{i}', ''))"  # noqa: S608
                              " on conflict (key) do update set value = excluded.value;")
        count = 1
    else:
        if not names:
            raise UsageError("Specify the network with -o.")
        for attr in assigns:
            if attr not in NETWORK_ATTRS:
                raise CommandError(f"'{attr}' is not a valid attribute name for an object type of 'network'.")
        existing = {row["netname"] for row in db.query(ctx.dbconfig(), "select netname from networks")}
        for name in names:
            if name not in existing:
                raise CommandError(f"Could not find an object named '{name}' of type 'network'.")
        sets = []
        for i, (attr, value) in enumerate(assigns.items()):
            variables[f"v{i}"] = value
            sets.append(f"{NETWORK_ATTRS[attr]} = nullif(:'v{i}', '')")
        for j, name in enumerate(names):
            variables[f"n{j}"] = name
            statements.append(f"update networks set {', '.join(sets)} where netname = :'n{j}';")  # noqa: S608
        count = len(names)
    db.run_psql(ctx.dbconfig(), "begin;\n" + "\n".join(statements) + "\ncommit;\n", variables)
    reply.out(f"{count} object definitions have been created or modified.")


def cmd_lsxcatd(ctx: Context, args: list[str], reply: Reply) -> None:
    """lsxcatd -v|-d|-a: version and database settings (queries the database; no password)."""
    opts, rest = _opts("lsxcatd", args, "vdah")
    if rest or not opts:
        raise UsageError("")
    cfg = ctx.dbconfig()
    db.ping(cfg)
    if "a" in opts or "v" in opts:
        reply.out(f"Version {VERSION}")
    if "a" in opts:
        reply.out("This is a Management Node")
    if "a" in opts or "d" in opts:
        reply.lines += [f"cfgloc={cfg.public_text}", "dbengine=Pg", f"dbname={cfg.dbname}",
                        f"dbhost={cfg.host}", f"dbadmin={cfg.user}"]


def _hosts_entries(text: str) -> Iterator[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, list[str]]]:
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            yield ipaddress.ip_address(fields[0]), fields[1:]
        except ValueError:
            continue


def _zone_label(name: str, domain: str) -> str | None:
    """The label of ``name`` inside zone ``domain``, or None when it is not in the zone."""
    name = name.rstrip(".")
    if name.lower().endswith("." + domain.lower()):
        name = name[: -len(domain) - 1]
    return name if _NAME.match(name) else None


def cmd_makedns(ctx: Context, args: list[str], reply: Reply) -> None:
    """makedns -n: forward zone /var/named/db.DOMAIN from /etc/hosts, /etc/named.conf, restart named."""
    opts, rest = _opts("makedns", args, "nh")
    if rest or "n" not in opts:
        raise UsageError("The lab stand-in supports only 'makedns -n'.")
    cfg = ctx.dbconfig()
    site = _site(cfg)
    domain = site.get("domain", "")
    if not domain:
        raise CommandError("domain is not defined in the site table. "
                           "Set it with 'chdef -t site domain=DOMAIN'.")
    if not _DOMAIN.match(domain):
        raise CommandError(f"The site table domain {domain!r} is not a valid DNS domain name.")
    try:
        hosts_text = ctx.path("/etc/hosts").read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read /etc/hosts: {exc.strerror}") from None
    records: dict[tuple[str, str, str], None] = {}  # ordered set of (label, type, address)
    for address, names in _hosts_entries(hosts_text):
        reply.out(f"Handling {names[0].split('.')[0]} in /etc/hosts.")
        if address.is_loopback:
            continue
        rtype = "A" if address.version == 4 else "AAAA"
        for name in names:
            label = _zone_label(name, domain)
            if label:
                records[(label, rtype, str(address))] = None
    ns = ctx.hostname.split(".")[0]
    if not any(label == ns for label, _, _ in records):
        try:
            records[(ns, "A", str(ipaddress.IPv4Address(site.get("master", ""))))] = None
        except ValueError:
            raise CommandError(f"This node ({ns}) is not in /etc/hosts and site.master is not an "
                               "IPv4 address: no address for the name server record.") from None
    zone = [
        "; generated by the xCAT lab stand-in (makedns -n); forward zone only",
        "$TTL 86400",
        f"@ IN SOA {ns}.{domain}. root.{domain}. ( {int(time.time())} 10800 3600 604800 86400 )",
        f"@ IN NS {ns}.{domain}.",
    ] + [f"{label:<24} IN {rtype:<4} {address}" for label, rtype, address in records]
    named_conf = [
        "// generated by the xCAT lab stand-in (makedns -n)",
        "options {",
        '\tdirectory "/var/named";',
        "\tlisten-on { any; };",
        "\tlisten-on-v6 { any; };",
        "\tallow-query { any; };",
        "\trecursion no;",
        "};",
        "",
        f'zone "{domain}" in {{',
        "\ttype master;",
        f'\tfile "db.{domain}";',
        "};",
    ]
    reply.out("Updating zones.")
    _write(ctx.path(f"/var/named/db.{domain}"), "\n".join(zone) + "\n")
    conf = ctx.path("/etc/named.conf")
    _backup(conf)
    _write(conf, "\n".join(named_conf) + "\n")
    reply.out("Completed updating zones.")
    reply.out("Restarting named")
    _restart(ctx, "named")
    reply.out("Restarting named complete")
    reply.out("DNS setup is completed")


def _subnet_block(row: dict[str, Any], reply: Reply) -> list[str]:
    try:
        network = ipaddress.IPv4Network(f"{row['net']}/{row['mask']}")
    except ValueError:
        raise CommandError(f"Network {row['netname']}: net {row['net']!r} / mask {row['mask']!r} "
                           "is not a valid IPv4 network.") from None
    lines = [f"subnet {network.network_address} netmask {network.netmask} {{"]
    if row["dynamicrange"]:
        ends = re.split(r"[-,]", row["dynamicrange"])
        try:
            low, high = (ipaddress.IPv4Address(e.strip()) for e in ends)
        except ValueError:
            raise CommandError(f"Network {row['netname']}: dynamicrange {row['dynamicrange']!r} "
                               "is not 'FIRST-LAST'.") from None
        if low not in network or high not in network or low > high:
            raise CommandError(f"Network {row['netname']}: dynamicrange is not inside {network}.")
        lines.append(f"\trange {low} {high};")
    else:
        reply.out(f"Warning: No dynamic range specified for {row['net']}. If hardware discovery is "
                  "being used, a dynamic range is required.")
    with contextlib.suppress(ValueError):  # e.g. "<xcatmaster>": not resolved by the stand-in
        lines.append(f"\toption routers {ipaddress.IPv4Address(row['gateway'] or '')};")
    return [*lines, "}"]


def _makedhcp_n(ctx: Context, cfg: db.CfgLoc, reply: Reply) -> None:
    site = _site(cfg)
    conf = ctx.path("/etc/dhcp/dhcpd.conf")
    if _backup(conf):
        reply.out("Renamed existing dhcp configuration file to  /etc/dhcp/dhcpd.conf.xcatbak")
        reply.out()
    lines = ["# generated by the xCAT lab stand-in (makedhcp -n)", "authoritative;",
             "ddns-update-style none;"]
    domain = site.get("domain", "")
    if domain and _DOMAIN.match(domain):
        lines.append(f'option domain-name "{domain}";')
    for row in _networks(cfg):
        if ":" in (row["net"] or ""):
            reply.out(f"Warning: IPv6 network {row['netname']} is not handled by the lab stand-in.")
            continue
        lines += ["", *_subnet_block(row, reply)]
    lines += ["", 'include "/etc/dhcp/xcat-hosts.conf";']
    _write(conf, "\n".join(lines) + "\n")
    hosts_conf = ctx.path("/etc/dhcp/xcat-hosts.conf")
    if not hosts_conf.exists():
        _write(hosts_conf, "# xCAT lab stand-in: host entries are written by makedhcp -a\n")
    _restart(ctx, "dhcpd")


def _makedhcp_a(ctx: Context, cfg: db.CfgLoc, reply: Reply) -> None:
    rows = db.query(cfg, "select m.node, m.mac, h.ip from mac m join hosts h on h.node = m.node"
                         " where coalesce(m.disable, '') not in ('1', 'yes')"
                         " and coalesce(h.disable, '') not in ('1', 'yes') order by m.node")
    lines = ["# generated by the xCAT lab stand-in (makedhcp -a)"]
    for row in rows:
        node = row["node"]
        # xCAT's mac column may hold "mac1|mac2" and "mac!hostname"; the first MAC is the install NIC.
        mac = (row["mac"] or "").split("|")[0].split("!")[0].strip()
        try:
            ip = ipaddress.IPv4Address(row["ip"] or "")
        except ValueError:
            reply.out(f"Warning: {node}: no IPv4 address in the hosts table, skipped.")
            continue
        if not _NAME.match(node) or not _MAC.match(mac):
            reply.out(f"Warning: {node}: invalid node name or mac {mac!r}, skipped.")
            continue
        lines += [f"host {node} {{", f"\thardware ethernet {mac.lower()};", f"\tfixed-address {ip};", "}"]
    _write(ctx.path("/etc/dhcp/xcat-hosts.conf"), "\n".join(lines) + "\n")
    if _is_active(ctx, "dhcpd"):
        _restart(ctx, "dhcpd")


def cmd_makedhcp(ctx: Context, args: list[str], reply: Reply) -> None:
    """makedhcp -n: /etc/dhcp/dhcpd.conf from networks; -a: /etc/dhcp/xcat-hosts.conf from mac+hosts."""
    opts, rest = _opts("makedhcp", args, "nah")
    if rest or ("n" in opts) == ("a" in opts):
        raise UsageError("The lab stand-in supports 'makedhcp -n' and 'makedhcp -a'.")
    cfg = ctx.dbconfig()
    if "n" in opts:
        _makedhcp_n(ctx, cfg, reply)
    else:
        _makedhcp_a(ctx, cfg, reply)


def cmd_makeconservercf(ctx: Context, args: list[str], reply: Reply) -> None:
    """makeconservercf: /etc/conserver.cf with one exec console per node; console.lock=conserver."""
    _opts("makeconservercf", args, "h")
    if args:
        raise UsageError("")
    nodes = _nodes(ctx.dbconfig())
    lines = [
        "# generated by the xCAT lab stand-in (makeconservercf): every console runs /bin/cat",
        "default full { rw *; }",
        "default * {",
        "\tinclude full;",
        "\tmaster localhost;",
        "}",
        "access * {",
        "\ttrusted 127.0.0.1;",
        "}",
    ]
    for node in nodes:
        lines += [f"console {node} {{", "\tmaster localhost;", "\ttype exec;", "\texec /bin/cat;", "}"]
    conf = ctx.path("/etc/conserver.cf")
    _backup(conf)
    _write(conf, "\n".join(lines) + "\n")
    _write(ctx.path("/etc/xcat/console.lock"), "conserver\n")


def cmd_makegocons(ctx: Context, args: list[str], reply: Reply) -> None:
    """makegocons: /etc/goconserver/nodes.json (node names); console.lock=goconserver; start it."""
    _opts("makegocons", args, "h")
    if args:
        raise UsageError("")
    nodes = _nodes(ctx.dbconfig())
    _write(ctx.path("/etc/goconserver/nodes.json"), json.dumps(nodes, indent=2) + "\n")
    _write(ctx.path("/etc/xcat/console.lock"), "goconserver\n")
    if not _is_active(ctx, "goconserver"):
        reply.out("Starting goconserver service ...")
        _restart(ctx, "goconserver", action="start")


HANDLERS: dict[str, Handler] = {
    "lsdef": cmd_lsdef,
    "tabdump": cmd_tabdump,
    "chdef": cmd_chdef,
    "lsxcatd": cmd_lsxcatd,
    "makedns": cmd_makedns,
    "makedhcp": cmd_makedhcp,
    "makeconservercf": cmd_makeconservercf,
    "makegocons": cmd_makegocons,
}
_WRITE_LOCK = threading.Lock()  # one changing command at a time, as they rewrite shared files


def db_down_message(hostname: str) -> str:
    return f"Error: [{hostname}]: Could not connect to the database. Database handle not defined.\n"


def handle_request(ctx: Context, request: Any) -> Result:
    """Run one request ``{"command": str, "args": [str, ...]}``; never raises."""
    host = ctx.hostname
    command = request.get("command") if isinstance(request, dict) else None
    args = request.get("args", []) if isinstance(request, dict) else None
    if not (isinstance(command, str) and isinstance(args, list) and all(isinstance(a, str) for a in args)):
        return Result(1, "", f"Error: [{host}]: Malformed request.\n")
    handler = HANDLERS.get(command)
    if handler is None:
        return Result(1, "", f"Error: [{host}]: Unsupported command: {command}\n")
    reply = Reply()
    lock = _WRITE_LOCK if command.startswith("make") or command == "chdef" else contextlib.nullcontext()
    try:
        with lock:
            handler(ctx, args, reply)
    except HelpRequested:
        return Result(0, USAGE[command] + "\n", "")
    except UsageError as exc:
        message = f"{exc}\n" if str(exc) else ""
        return Result(1, reply.text(), f"{message}{USAGE[command]}\n")
    except CommandError as exc:
        errors = "".join(f"Error: [{host}]: {line}\n" for line in str(exc).splitlines())
        return Result(1, reply.text(), errors)
    except db.DatabaseUnavailable as exc:
        log.warning("%s: database unavailable: %s", command, exc)
        return Result(1, reply.text(), db_down_message(host))
    except db.CfgLocError as exc:
        return Result(1, reply.text(), f"Error: [{host}]: {exc}\n")
    except db.DatabaseError as exc:
        return Result(1, reply.text(), f"Error: [{host}]: Database error: {exc}\n")
    except OSError as exc:
        return Result(1, reply.text(), f"Error: [{host}]: {exc.filename or ''}: {exc.strerror}\n")
    except Exception:
        log.exception("%s: internal error", command)
        return Result(1, reply.text(), f"Error: [{host}]: Internal error in the xcatd stand-in; see its log\n")
    return Result(0, reply.text(), "")


# ----------------------------------------------------------------------------- server


class RequestHandler(socketserver.StreamRequestHandler):
    timeout = 30.0  # for reading the request line

    def handle(self) -> None:
        server: XcatdServer = self.server  # type: ignore[assignment]
        started = time.monotonic()
        line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
        try:
            if len(line) > MAX_REQUEST_BYTES:
                raise ValueError("request too long")
            request = json.loads(line)
        except ValueError:
            request = None
        result = handle_request(server.ctx, request)
        command = request.get("command") if isinstance(request, dict) else "?"
        log.info("%s from %s: rc=%d (%.2fs)", command, self.client_address[0], result.rc,
                 time.monotonic() - started)
        self.wfile.write(json.dumps(asdict(result)).encode() + b"\n")


class XcatdServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ctx: Context) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, RequestHandler)
        self.ctx = ctx


def notify_ready() -> None:
    """Send READY=1 to $NOTIFY_SOCKET (systemd Type=notify), if set."""
    target = os.environ.get("NOTIFY_SOCKET")
    if not target:
        return
    address = "\0" + target[1:] if target.startswith("@") else target
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(f"READY=1\nMAINPID={os.getpid()}".encode(), address)
    except OSError as exc:
        log.warning("could not notify %s: %s", target, exc)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xcatd", description="xcatd stand-in (lab test equipment)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - xcatd serves the cluster network
    parser.add_argument("--cfgloc", default="/etc/xcat/cfgloc", help="node path, under --root")
    parser.add_argument("--root", type=Path, default=Path("/"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s xcatd[%(process)d]: %(message)s")
    ctx = Context(root=args.root, cfgloc=args.cfgloc)
    try:
        cfg = ctx.dbconfig()
        db.ping(cfg)
    except db.DatabaseUnavailable as exc:
        log.error("database check failed: %s", exc)
        sys.stderr.write(db_down_message(ctx.hostname))
        return 1
    except (db.DatabaseError, db.CfgLocError) as exc:
        sys.stderr.write(f"Error: [{ctx.hostname}]: {exc}\n")
        return 1
    try:
        server = XcatdServer((args.bind, args.port), ctx)
    except OSError as exc:
        where = f"{args.bind}:{args.port}"
        sys.stderr.write(f"Error: [{ctx.hostname}]: Cannot listen on {where}: {exc.strerror}\n")
        return 1
    signal.signal(signal.SIGTERM, _raise_stop)
    with server:
        log.info("listening on %s:%d; database %s on %s as %s", args.bind, args.port, cfg.dbname, cfg.host,
                 cfg.user)
        notify_ready()
        try:
            server.serve_forever()
        except (_Stop, KeyboardInterrupt):
            log.info("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
