"""Facts about one node, each read once per run and shared by every check that needs it.

A `NodeFacts` wraps a testinfra host (one SSH connection, reused) and memoises each command's
parsed output, so ten checks that need the addresses cost one `ip -j addr`. A check may also say
which of its commands to `start` when the run begins: they run side by side (sessions multiplexed
on the one connection) and the check's own `run` of the same command collects the result.

The module is the `NodeFacts` class, whole: one property per fact, each beside the reads it shares
(the batched prefetch, the started commands, the once-per-run cache); the output parsers live in
the other modules of this package.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from testinfra.host import Host

from xcatha_verify.errors import ssh_reason
from xcatha_verify.facts.network import (
    IP_ADDR_COMMAND,
    FactError,
    InterfaceAddress,
    parse_ip_addr_json,
    parse_link_macs,
)  # fmt: skip
from xcatha_verify.facts.pg_settings import SERVER_SETTINGS_SQL, ServerSettings, parse_server_settings
from xcatha_verify.facts.system import FINDMNT_ARGV, Mount, parse_findmnt, parse_unit_show
from xcatha_verify.facts.xcat import enabled_rows, parse_psql_tables, parse_tabdump
from xcatha_verify.inventory import Inventory, Node, Service
from xcatha_verify.nodepaths import CONSOLE_LOCK, node_python

T = TypeVar("T")
MOUNTS_COMMAND = shlex.join(FINDMNT_ARGV)
XCAT_TIMEOUT_S = 8  # a hung xcatd must fail a check, not hang it
# Table reads through xcatd: tabdump is xCAT's lightest client (about half lsdef's time), and a
# table read proves what lsxcatd cannot: that xcatd answers from its database.
SITE_TABLE_QUERY = "tabdump site"
NETWORKS_TABLE_QUERY = "tabdump networks"
POLICY_TABLE_QUERY = "tabdump policy"
# xCAT's tables read from PostgreSQL itself, as the postgres user on the node's own socket.
DATABASE_TABLES = ("site", "policy", "networks")
PSQL_COMMAND = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p %s -d %s"
SERVER_CERT = "/etc/xcat/cert/server-cert.pem"
SERVER_CERT_SUBJECT = "openssl x509 -noout -subject -nameopt multiline -in %s"
# xCAT's version as its build stamped it into xCAT::Version (lsxcatd -v prints the same, via xcatd).
XCAT_VERSION_FILE = "/opt/xcat/lib/perl/xCAT/Version.pm"
_XCAT_VERSION = re.compile(r"'Version '\s*\.\s*'([^']+)'\s*\.\s*'([^']*)'")
CONSOLE_SERVERS = ("conserver", "goconserver")
GOCONSERVER_BINARY = "/usr/bin/goconserver"
# iputils' arping, for a node without xcatha-verify: two probes a second apart, then a second more.
ARPING_DAD = "arping -D -c 2 -w 4 -I %s %s"
# xcatd's unit environment, then (xcatd running) the XCATCFG lines of the daemon's own environment:
# nothing else of that environment leaves the node.
XCATD_ENVIRONMENT = (
    "shown=$(systemctl show -p MainPID -p Environment -p EnvironmentFiles {unit}); printf '%s\\n' \"$shown\"; "
    "pid=$(printf '%s\\n' \"$shown\" | sed -n 's/^MainPID=//p'); "
    "[ \"${{pid:-0}}\" = 0 ] || {{ echo @@environ; tr '\\0' '\\n' < /proc/$pid/environ | grep '^XCATCFG=' || true; }}"
)
# Commands started ahead run on these threads, a few at a time (sshd allows 10 sessions per connection).
BACKGROUND_WORKERS = 6
_background: ThreadPoolExecutor | None = None
_background_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _background
    with _background_lock:
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=BACKGROUND_WORKERS, thread_name_prefix="xcatha-facts")
        return _background


def _forget_pool_in_child() -> None:
    """A forked child (runner._pytest_forked) has none of the parent's pool threads: make its own."""
    global _background, _background_lock
    _background, _background_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


@dataclass(frozen=True)
class CommandOutput:
    rc: int
    stdout: str
    stderr: str


class NodeFacts:
    def __init__(self, host: Host, node: Node, inventory: Inventory, python: str | None = None) -> None:
        self.host = host
        self.node = node
        self.inventory = inventory
        self.python = python or node_python()
        self._files: dict[str, str | None] = {}
        self._started: dict[tuple[str, tuple[str, ...]], Future[CommandOutput]] = {}
        self._xcatd_environment = ""  # from prefetch: what XCATD_ENVIRONMENT printed
        self._once: dict[str, tuple[bool, object]] = {}

    def prefetch(self, files: list[str]) -> None:
        """Read the facts most checks need in one round trip: addresses, unit states, mounts, files.

        An SSH command costs ~0.1 s whatever it does, so one batched read replaces a dozen. Anything
        that does not parse is left for its own command later (the checks then read it themselves).
        """
        units = [s.unit for s in self.inventory.services]
        sections = {
            "ip": IP_ADDR_COMMAND,
            "units": "systemctl show -p Id,LoadState,ActiveState,UnitFileState " + " ".join(map(shlex.quote, units)),
            "mounts": MOUNTS_COMMAND,
            "xcatd-env": XCATD_ENVIRONMENT.format(unit=shlex.quote(self.inventory.xcatd_unit)),
        }
        script = "".join(f"echo '@@begin {name}'; {cmd} 2>/dev/null; echo \"@@end {name} $?\"; "
                         for name, cmd in sections.items())  # fmt: skip
        script += "".join(
            f"echo '@@file {i}'; if [ -e {shlex.quote(f)} ]; then base64 -w0 < {shlex.quote(f)}; echo; "
            f"echo \"@@end {i} $?\"; else echo '@@end {i} missing'; fi; "
            for i, f in enumerate(files)
        )
        result = self.host.run(script + "echo '@@done'")
        if result.rc != 0 or not result.stdout.rstrip().endswith("@@done"):
            return  # cut short (a session that died): trust none of it; each check reads for itself
        parts: dict[str, tuple[str, str]] = {}
        for match in re.finditer(r"^@@(?:begin|file) (\S+)\n(.*?)^@@end \1 (\S+)$", result.stdout, re.S | re.M):
            parts[match.group(1)] = (match.group(2), match.group(3))
        try:
            if parts.get("ip", ("", ""))[1] == "0":
                self.__dict__["ip_addr_json"] = parts["ip"][0]
            if parts.get("units", ("", ""))[1] == "0":
                self.__dict__["unit_states"] = parse_unit_show(parts["units"][0], units)
            if parts.get("xcatd-env", ("", ""))[1] == "0":
                self._xcatd_environment = parts["xcatd-env"][0]
            if parts.get("mounts", ("", ""))[1] == "0":
                self.__dict__["mounts"] = parse_findmnt(parts["mounts"][0])
        except FactError:
            pass  # read again, and reported, by the checks that need it
        for i, path in enumerate(files):
            body, status = parts.get(str(i), ("", "?"))
            if status == "missing":
                self._files[path] = None
            elif status == "0":
                self._files[path] = base64.b64decode(body.strip()).decode(errors="replace")

    def start(self, command: str, *args: str) -> None:
        """Begin `command` in the background; the next `run` of the same command and arguments collects it."""
        key = (command, args)
        if key not in self._started:
            self._started[key] = _pool().submit(self._run_now, command, *args)

    def run(self, command: str, *args: str) -> CommandOutput:
        """`command` with its arguments quoted, on the node; the result of a started one if there is one."""
        started = self._started.pop((command, args), None)
        return started.result() if started is not None else self._run_now(command, *args)

    def _run_now(self, command: str, *args: str) -> CommandOutput:
        result = self.host.run(command, *args)
        return CommandOutput(result.rc, result.stdout, result.stderr)

    @cached_property
    def ip_addr_json(self) -> str:
        """``ip -j addr show`` as the node printed it (FactError-free: parsing says what is wrong)."""
        return str(self.host.check_output(IP_ADDR_COMMAND))

    @cached_property
    def addresses(self) -> list[InterfaceAddress]:
        return parse_ip_addr_json(self.ip_addr_json)

    @cached_property
    def interface_macs(self) -> dict[str, str]:
        """Each interface's hardware address (``AA:BB:...``)."""
        return parse_link_macs(self.ip_addr_json)

    @property
    def vip_addresses(self) -> list[InterfaceAddress]:
        return [a for a in self.addresses if a.address == self.inventory.vip.address]

    @property
    def holds_vip(self) -> bool:
        return bool(self.vip_addresses)

    @cached_property
    def unit_states(self) -> dict[str, tuple[str, str]]:
        """Every listed unit's (active state, boot state), from one systemctl call."""
        units = [s.unit for s in self.inventory.services]
        out = self.host.check_output("systemctl show -p Id,LoadState,ActiveState,UnitFileState " + " ".join(
            shlex.quote(u) for u in units
        ))
        return parse_unit_show(out, units)

    @property
    def unit_active(self) -> dict[str, str]:
        return {u: s[0] for u, s in self.unit_states.items()}

    @property
    def unit_enabled(self) -> dict[str, str]:
        return {u: s[1] for u, s in self.unit_states.items()}

    @property
    def running_services(self) -> list[Service]:
        return [s for s in self.inventory.services if self.unit_active[s.unit] in ("active", "activating", "reloading")]

    @cached_property
    def mounts(self) -> dict[str, Mount]:
        return parse_findmnt(self.host.check_output(MOUNTS_COMMAND))

    def start_file(self, path: str) -> None:
        """Begin reading what `file(path)` will return."""
        if path not in self._files:
            self.start("cat -- %s", path)

    def file(self, path: str) -> str | None:
        """A file's text, or None when it does not exist (read once per run)."""
        if path not in self._files:
            result = self.run("cat -- %s", path)
            if result.rc == 0:
                self._files[path] = result.stdout
            elif self.host.run("test -e %s", path).rc != 0:
                self._files[path] = None
            else:
                raise FactError(f"cannot read {path} on {self.node.name}: {result.stderr.strip()}")
        return self._files[path]

    def listdir(self, path: str) -> list[str] | None:
        result = self.host.run("ls -1A -- %s", path)
        return result.stdout.splitlines() if result.rc == 0 else None

    def xcat(self, command: str, *args: str) -> CommandOutput:
        """An xCAT command with a time limit (a hung xcatd answers nobody)."""
        return self.run(xcat_command(command), *args)

    def start_xcat(self, command: str, *args: str) -> None:
        """Begin what `xcat(command, *args)` will read."""
        self.start(xcat_command(command), *args)

    def vip_probe_command(self) -> tuple[str, ...]:
        """ARP duplicate-address probes for the VIP, sub-second, by xcatha-verify's own prober on the node."""
        vip = self.inventory.vip
        return "%s -m xcatha_verify.arp probe %s %s", self.python, vip.interface, str(vip.address)

    @cached_property
    def vip_probe(self) -> CommandOutput:
        """Who answers ARP for the VIP on its network, in arping's words (`Sent N probes`, `Received M response(s)`).

        Falls back to iputils' arping (two seconds) on a node where xcatha-verify is not installed.
        """
        result = self.run(*self.vip_probe_command())
        if "Sent " not in result.stdout and not result.stderr.startswith("arp: "):  # the prober is not there
            vip = self.inventory.vip
            result = self.run(ARPING_DAD, vip.interface, str(vip.address))
        return result

    @cached_property
    def xcatcfg(self) -> tuple[str, str] | None:
        """XCATCFG as xcatd has it, (where, value); None when unset. xCAT's Table.pm takes it before cfgloc.

        A running xcatd's own environment; else what its unit gives the next start (EnvironmentFile=
        lines over Environment=, as systemd applies them). An export in /etc/profile.d/xcat.sh, which
        xCAT's unit sources in ExecStart, is seen only once xcatd runs.
        """
        unit = self.inventory.xcatd_unit
        shown = self._xcatd_environment or self.host.run(XCATD_ENVIRONMENT.format(unit=shlex.quote(unit))).stdout
        unit_part, marker, environ = shown.partition("@@environ\n")
        props: dict[str, list[str]] = {}
        for line in unit_part.splitlines():
            key, _, value = line.partition("=")
            props.setdefault(key, []).append(value)
        pid = (props.get("MainPID") or ["0"])[0]
        if marker:
            value = _assigned(environ.splitlines())
            return (f"XCATCFG in the running xcatd's environment (pid {pid}; set where its start sets it)",
                    value) if value else None  # fmt: skip
        for entry in reversed(props.get("EnvironmentFiles", [])):
            path = entry.split(" (")[0].lstrip("-")
            text = self.file(path) if path else None
            value = _assigned(shlex.split(text or "", comments=True, posix=True))
            if value:
                return f"XCATCFG in {path} ({unit}'s EnvironmentFile)", value
        value = _assigned(shlex.split(" ".join(props.get("Environment", []))))
        return (f"XCATCFG in {unit}'s Environment=", value) if value else None

    def xcat_database_config(self) -> tuple[str, str | None]:
        """What names xCAT's database for xcatd, (where, text): XCATCFG if xcatd has it, else cfgloc
        (None when the file does not exist)."""
        return self.xcatcfg or (self.inventory.database.cfgloc, self.file(self.inventory.database.cfgloc))

    @cached_property
    def site_table(self) -> dict[str, str]:
        """xCAT's site table as key -> value (disabled rows left out), from xCAT's database.

        FactError when it cannot be read, or has no row: the site table always has rows once xCAT is
        set up, so an empty one means the database is not xCAT's (or xcatd could not read it).
        """
        rows = self._xcat_rows("site", SITE_TABLE_QUERY)
        if not rows:
            raise FactError(f"xCAT's site table on {self.node.name} has no rows: is this xCAT's database?")
        return {row.get("key", ""): row.get("value", "") for row in rows}

    @cached_property
    def site_table_through_xcatd(self) -> dict[str, str]:
        """The site table as xcatd serves it (`tabdump site`): what proves xcatd reads its database.

        FactError when xcatd does not answer, or answers without a row (xcatd could not read its
        database: with the database down `tabdump` prints only its header and exits 0).
        """
        rows = self._table(SITE_TABLE_QUERY)
        if not rows:
            raise FactError(
                f"{SITE_TABLE_QUERY} on {self.node.name} printed no rows: xcatd could not read its database"
            )
        return {row.get("key", ""): row.get("value", "") for row in rows}

    @cached_property
    def networks_table(self) -> dict[str, dict[str, str]]:
        """xCAT's networks table, netname -> row (disabled rows left out), from xCAT's database."""
        return {row.get("netname", ""): row for row in self._xcat_rows("networks", NETWORKS_TABLE_QUERY)}

    @cached_property
    def policy_table(self) -> list[dict[str, str]]:
        """xCAT's policy table, its rows in order (disabled rows left out), from xCAT's database."""
        return self._xcat_rows("policy", POLICY_TABLE_QUERY)

    def start_database_tables(self) -> None:
        """Begin reading the tables `site_table`, `policy_table` and `networks_table` will return."""
        if self.inventory.database.type == "postgresql":
            self.start(*self._psql_tables_command())
        else:
            for query in (SITE_TABLE_QUERY, POLICY_TABLE_QUERY, NETWORKS_TABLE_QUERY):
                self.start_xcat(query)

    def _xcat_rows(self, table: str, query: str) -> list[dict[str, str]]:
        """A table's rows as xCAT uses them. On PostgreSQL read from the database itself, every table
        at once (one psql, about 40 ms; each read through xcatd costs its node about 0.2 s of CPU, and
        xcat.xcatd proves xcatd reads them, `site_table_through_xcatd`); on MariaDB through xcatd."""
        if self.inventory.database.type != "postgresql":
            return self._table(query)
        return enabled_rows(self.once("database-tables", self._read_database_tables)[table])

    def _psql_tables_command(self) -> tuple[str, ...]:
        db = self.inventory.database
        parts: list[str] = []
        for table in DATABASE_TABLES:
            # Table names are constants here, never input.
            parts += [f"\\echo @@table {table}", f"copy (select * from {table}) to stdout with (format csv, header)"]  # noqa: S608
        return (PSQL_COMMAND + " -c %s" * len(parts), str(db.port), db.name, *parts)

    def _read_database_tables(self) -> dict[str, list[dict[str, str]]]:
        result = self.run(*self._psql_tables_command())
        if result.rc != 0:
            raise FactError(f"reading xCAT's tables from PostgreSQL on {self.node.name} (psql as postgres): "
                            f"{_last_line(result)}")  # fmt: skip
        return parse_psql_tables(result.stdout, DATABASE_TABLES)

    def _server_settings_command(self) -> tuple[str, ...]:
        db = self.inventory.database
        # Bounded: a server that accepts and never answers must not hold the check run.
        return ("timeout 10 " + PSQL_COMMAND + " -c %s", str(db.port), db.name, SERVER_SETTINGS_SQL)

    def start_server_settings(self) -> None:
        self.start(*self._server_settings_command())

    def server_settings(self) -> ServerSettings | None:
        """The running PostgreSQL's own settings and file reading (facts/pg_settings.py); None when it
        does not answer (not running, or not on the shared data), and the files are all there is."""
        def read() -> ServerSettings | None:
            result = self.run(*self._server_settings_command())
            return parse_server_settings(result.stdout) if result.rc == 0 else None

        return self.once("server-settings", read)

    def unit_files(self, unit: str) -> str:
        """`systemctl cat UNIT`: each file of the unit after a `# PATH` line, drop-ins included ('' if none)."""
        return self.once(f"cat {unit}", lambda: self.run("systemctl cat -- %s 2>/dev/null", unit).stdout)

    @cached_property
    def server_cert_cn(self) -> str:
        """The common name of xCAT's server certificate on the shared /etc/xcat (openssl on the node)."""
        result = self.run(SERVER_CERT_SUBJECT, SERVER_CERT)
        found = re.search(r"^\s*commonName\s*=\s*(.+?)\s*$", result.stdout, re.M)
        if result.rc != 0 or not found:
            raise FactError(f"cannot read the subject of {SERVER_CERT} on {self.node.name}: {_last_line(result)}")
        return found.group(1)

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per run, its FactError included: a hung xcatd costs its time limit once,
        not once for every check that reads the same table."""
        if key not in self._once:
            try:
                self._once[key] = (True, compute())
            except FactError as exc:
                self._once[key] = (False, exc)
        ok, value = self._once[key]
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def _table(self, query: str) -> list[dict[str, str]]:
        return self.once(query, lambda: self._read_table(query))

    def _read_table(self, query: str) -> list[dict[str, str]]:
        result = self.xcat(query)
        if result.rc != 0:
            raise FactError(f"{query} failed on {self.node.name}: {_last_line(result)}")
        try:
            rows = parse_tabdump(result.stdout)
        except FactError as exc:
            raise FactError(f"{query} on {self.node.name}: {exc}") from None
        return enabled_rows(rows)

    @property
    def site_domain(self) -> str | None:
        """`domain` from xCAT's site table, None when unset."""
        return self.site_table.get("domain") or None

    @cached_property
    def console_lock(self) -> str | None:
        """Which console server /etc/xcat/console.lock names (as xcatha.py reads it), None without a lock."""
        text = self.file(CONSOLE_LOCK)
        if text is None:
            return None
        return "goconserver" if "goconserver" in text else "conserver"

    @property
    def xcat_version(self) -> str:
        """xCAT's version on the node, as `lsxcatd -v` words it, or why there is none."""
        try:
            text = self.file(XCAT_VERSION_FILE)
        except FactError as exc:
            return f"unknown ({exc})"
        except RuntimeError as exc:  # ssh failed: also read at session end, where nothing may raise
            return f"unknown ({ssh_reason(exc)})"
        if text is None:
            return "not installed"
        found = _XCAT_VERSION.search(text)
        return f"{found.group(1)}{found.group(2)}" if found else f"unknown ({XCAT_VERSION_FILE} not understood)"

    @cached_property
    def console_choice(self) -> tuple[str | None, str]:
        """The pair's console server and why: the procedure's order of evidence.

        /etc/xcat/console.lock (xcatha.py's record of what ran at deactivation), else the site table's
        `consoleservice`, else goconserver when /usr/bin/goconserver is installed (xCAT's
        makeconservercf then hands over to it), else conserver. None when `consoleservice` names one
        this procedure does not start (confluent). FactError when the site table cannot be read, or
        when neither the lock nor cfgloc is there (the shared /etc/xcat not connected).
        """
        lock = self.console_lock
        if lock is not None:
            return lock, f"console.lock names {lock}"
        if self.xcat_database_config()[1] is None:
            # No cfgloc either: /etc/xcat is not the shared one, so a lock there cannot be seen.
            raise FactError(f"no /etc/xcat/cfgloc on {self.node.name} (the shared /etc/xcat not connected?): "
                            "whether console.lock names a console server cannot be told")  # fmt: skip
        service = self.site_table.get("consoleservice", "").strip()
        if service in CONSOLE_SERVERS:
            return service, f"no console.lock; site consoleservice={service}"
        if service:
            return None, f"no console.lock; site consoleservice={service}: not a console server the procedure starts"
        if self.host.run("test -x %s", GOCONSERVER_BINARY).rc == 0:
            return "goconserver", f"no console.lock, no site consoleservice; {GOCONSERVER_BINARY} is installed"
        return "conserver", "no console.lock, no site consoleservice, no goconserver installed: conserver"

    def clock_sample(self) -> tuple[float, float]:
        """(node clock minus local midpoint, half round trip) for one `date` call, in seconds."""
        before = time.time()
        remote = float(self.host.check_output("date +%s.%N"))
        after = time.time()
        return remote - (before + after) / 2, (after - before) / 2


def xcat_command(command: str, timeout_s: float = XCAT_TIMEOUT_S) -> str:
    """`command` (an xCAT client's command line) bounded by `timeout_s`. xCAT's clients exit 255 on
    some errors, which SSH (and testinfra) take for a lost connection: that status becomes 254."""
    return f"timeout {timeout_s:g} {command}; rc=$?; [ $rc -ne 255 ] || rc=254; exit $rc"


def _assigned(assignments: list[str]) -> str | None:
    """The value of the last XCATCFG=... among `assignments`, None when there is none (or it is empty)."""
    values = [a.removeprefix("XCATCFG=") for a in assignments if a.startswith("XCATCFG=")]
    return values[-1] if values and values[-1] else None


def _last_line(result: CommandOutput) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.rc}"
