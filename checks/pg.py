"""PostgreSQL: listen_addresses and pg_hba.conf admit the VIP and both static IPs; it answers on them."""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from xcatha_verify.checkkit import (
    ACTIVE,
    FROM_THE_DATABASE,
    ON_SHARED_DATA,
    check,
    fail,
    note,
    postgresql_only,
    verdict,
)
from xcatha_verify.facts.hosts import addresses_for, parse_hosts
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.facts.pg_conf import DEFAULT_LISTEN_ADDRESSES, listen_covers, parse_postgresql_conf, split_guc_list
from xcatha_verify.facts.pg_hba import HbaEntry, hba_covers, parse_pg_hba
from xcatha_verify.facts.pg_settings import COMMAND_LINE, ServerSettings, command_line_listen
from xcatha_verify.facts.postgres import (
    PG_CONTROLDATA,
    PG_ISREADY,
    POSTMASTER_PID,
    PROCESS_AND_CWD,
    cluster_state,
    parse_postmaster_pid,
    pg_isready_command,
    process_and_cwd,
)
from xcatha_verify.facts.xcat import parse_cfgloc
from xcatha_verify.inventory import Inventory

LOOPBACK = {"localhost": ["127.0.0.1", "::1"]}
DEFAULT_DB_USER = "xcatadm"
PASSWORD_METHODS = ("scram-sha-256", "md5", "password")
AUTO_CONF = "postgresql.auto.conf"


def _resolver(facts: NodeFacts) -> Callable[[str], list[str]]:
    hosts = parse_hosts(facts.file("/etc/hosts") or "")

    def resolve(name: str) -> list[str]:
        return [str(a) for a in addresses_for(hosts, name)] or LOOPBACK.get(name.lower(), [])

    return resolve


def _db_user(facts: NodeFacts, inventory: Inventory) -> str:
    """The user xCAT connects as (from XCATCFG or cfgloc), or xCAT's default when neither can be read."""
    try:
        return parse_cfgloc(facts.xcat_database_config()[1] or "").user
    except FactError:
        return DEFAULT_DB_USER


def _read(facts: NodeFacts) -> Callable[[str], str | None]:
    return facts.file


@dataclass(frozen=True)
class _Listen:
    """A listen_addresses value and what sets it: the kind says how a fix changes it."""

    value: str
    kind: str  # "default", "file", "auto" (ALTER SYSTEM), "unit" (-c in ExecStart), "command line" (elsewhere)
    file: str = ""
    line: int = 0

    @property
    def origin(self) -> str:
        return {
            "default": "unset: PostgreSQL's default",
            "unit": f"-c in {self.file}'s ExecStart",
            "command line": "the server's command line, not the unit's ExecStart",
        }.get(self.kind, f"{self.file}:{self.line}")


def _listen_from_files(facts: NodeFacts, inventory: Inventory) -> _Listen:
    """Our own reading of the files, as PostgreSQL reads them, for a server that does not answer."""
    conf_path = inventory.database.conf_file
    text = facts.file(conf_path)
    if text is None:
        fail(observed=f"{conf_path} does not exist", expected=f"{conf_path} readable",
             fix="connect the shared data (the configuration lives in the data directory)")  # fmt: skip
    settings = parse_postgresql_conf(text, path=conf_path, read=_read(facts), list_dir=facts.listdir)
    # ALTER SYSTEM writes postgresql.auto.conf in the data directory; the server reads it last.
    auto_path = posixpath.join(inventory.database.data_dir, AUTO_CONF)
    auto_text = facts.file(auto_path)
    if auto_text is not None:
        settings |= parse_postgresql_conf(auto_text, path=auto_path, read=_read(facts), list_dir=facts.listdir)
    where = settings.get("listen_addresses")
    if where is None:
        return _Listen(DEFAULT_LISTEN_ADDRESSES, "default")
    return _Listen(where.value, "auto" if where.file == auto_path else "file", where.file, where.line)


def _listen_after_restart(facts: NodeFacts, inventory: Inventory, server: ServerSettings | None) -> _Listen:
    """The listen_addresses the next start of the server takes: the unit's -c wins over every file."""
    in_unit = command_line_listen(facts.unit_files(inventory.database_service.unit))
    if in_unit is not None:
        return _Listen(in_unit[1], "unit", in_unit[0])
    if server is None:
        return _listen_from_files(facts, inventory)
    running = server.running["listen_addresses"]
    if running.source == COMMAND_LINE:  # pg_ctl options or a wrapper: the next start passes it again
        return _Listen(running.value, "command line")
    row = server.after_restart("listen_addresses")
    if row is None:
        return _Listen(DEFAULT_LISTEN_ADDRESSES, "default")
    kind = "auto" if posixpath.basename(row.file) == AUTO_CONF else "file"
    return _Listen(row.value, kind, row.file, row.line)


def _listen_edit(source: _Listen, complete: str, inventory: Inventory) -> str:
    """The command that changes listen_addresses where `source` sets it."""
    assignment = f"listen_addresses = '{complete}'"
    if source.kind == "default":
        return f"echo {shlex.quote(assignment)} >> {shlex.quote(inventory.database.conf_file)}"
    if source.kind == "auto":  # ALTER SYSTEM's value wins: change it the way it was set
        sql = shlex.quote(f"ALTER SYSTEM SET {assignment}")
        return f"runuser -u postgres -- psql -X -p {inventory.database.port} -c {sql}"
    if source.kind == "unit":
        # Keeps the quoting as it was: an opening quote before the value stays, and so does the closing one.
        old = re.escape(source.value).replace("/", "\\/")
        edit = f"s/listen_addresses=\\([\"']\\?\\){old}/listen_addresses=\\1{complete}/"
        return f"sed -i {shlex.quote(edit)} {shlex.quote(source.file)}; systemctl daemon-reload"
    if source.kind == "command line":
        return (f"ps -o args= -C postgres | head -1  # find who passes -c listen_addresses={source.value} "
                f"(pg_ctl options?) and make it {complete}")
    # the line that wins, in the file that holds it (an include, maybe)
    return f"sed -i {shlex.quote(f'{source.line}s/.*/{assignment}/')} {shlex.quote(source.file)}"


@check("pg.listen_addresses", phases=ACTIVE, needs=ON_SHARED_DATA, reads=NodeFacts.start_server_settings)
def check_pg_listen_addresses(facts: NodeFacts, inventory: Inventory) -> None:
    """What PostgreSQL listens on, now (asked of the running server) and after its next restart (its
    files in its own order, ALTER SYSTEM's file, -c in the unit), holds localhost, the VIP and each static IP."""
    postgresql_only(inventory)
    resolve = _resolver(facts)
    wanted = {"localhost": "local connections", **inventory.pair_addresses()}

    def missing_from(value: str) -> list[str]:
        listen = split_guc_list(value)
        return [a for a in wanted if not listen_covers(listen, a, resolve)]

    def named(addresses: list[str]) -> str:
        return ", ".join(f"{a} ({wanted[a]})" for a in addresses)

    server = facts.server_settings()
    running = server.running["listen_addresses"] if server else None
    after = _listen_after_restart(facts, inventory, server)
    unit = shlex.quote(inventory.database_service.unit)
    expected = "listen_addresses covering " + ", ".join(wanted) + ", running and after a restart"
    if missing := missing_from(after.value):
        edit = _listen_edit(after, ",".join(dict.fromkeys([*split_guc_list(after.value), *missing])), inventory)
        now = f"; running now: '{running.value}'" if running and running.value != after.value else ""
        fail(observed=f"listen_addresses = '{after.value}' ({after.origin}); missing {named(missing)}{now}",
             expected=expected, fix=f"{edit}; systemctl restart {unit}")  # fmt: skip
    if running and (missing := missing_from(running.value)):
        fail(observed=f"the running server listens on '{running.value}'; missing {named(missing)}; its "
                      f"configuration says '{after.value}' ({after.origin}), in effect from the next restart",
             expected=expected, fix=f"systemctl restart {unit}")  # fmt: skip
    if running is None:
        note(f"listen_addresses = '{after.value}' ({after.origin}); the server did not answer, its files judged")
    elif running.value == after.value:
        note(f"listen_addresses = '{after.value}' ({after.origin}), running and after a restart")
    else:
        note(f"running with '{running.value}', after a restart '{after.value}' ({after.origin})")


@check("pg.hba", phases=ACTIVE, needs=ON_SHARED_DATA, reads=NodeFacts.start_server_settings)
def check_pg_hba(facts: NodeFacts, inventory: Inventory) -> None:
    """The pg_hba.conf the server loads (its hba_file when it runs) admits xCAT's database and user from the
    VIP, each static IP and each of database.clients (CIDR containment, first match wins, reject honoured)."""
    postgresql_only(inventory)
    settings = facts.server_settings()
    hba_path = settings.running["hba_file"].value if settings and "hba_file" in settings.running else ""
    hba_path = hba_path or inventory.database.hba_file or ""
    whose = "the server's hba_file" if settings else "the inventory's hba_file; the server did not answer"
    text = facts.file(hba_path)
    if text is None:
        fail(observed=f"{hba_path} does not exist", expected=f"{hba_path} readable",
             fix="connect the shared data (pg_hba.conf lives in the data directory)")  # fmt: skip
    entries = parse_pg_hba(text, path=hba_path, read=_read(facts), list_dir=facts.listdir)
    server = [ipaddress.ip_interface(f"{a.address}/{a.prefix}") for a in facts.addresses]
    resolve = _resolver(facts)
    db = inventory.database
    user = _db_user(facts, inventory)
    method = _auth_method(entries)
    problems = []
    inserts: list[tuple[int, str, str]] = []  # (line, file, entry) to add before a rejecting line
    appends: list[str] = []
    for address, why in inventory.database_clients().items():
        entry = hba_covers(entries, address, database=db.name, user=user, server_addresses=server, resolve=resolve)
        wanted = f"host {db.name} {user} {address}/{ipaddress.ip_address(address).max_prefixlen} {method}"
        if entry is None:
            problems.append(f"{address} ({why}): no host entry")
            appends.append(wanted)
        elif entry.method == "reject":
            problems.append(f"{address} ({why}): rejected by {entry.file}:{entry.line} ({entry})")
            # First match wins: an entry after the reject is never reached, so it goes before it.
            inserts.append((entry.line, entry.file if entry.file.startswith("/") else hba_path, wanted))
    # Highest line first, so that an insertion does not move the lines still to insert before.
    fixes = [f"sed -i {shlex.quote(f'{line}i {wanted}')} {shlex.quote(file)}"
             for line, file, wanted in sorted(inserts, reverse=True)]
    fixes += [f"echo {shlex.quote(wanted)} >> {shlex.quote(hba_path)}" for wanted in appends]
    note(f"{hba_path} ({whose}) admits {', '.join(inventory.database_clients())} to {db.name} as {user}")
    verdict(
        not problems,
        observed=f"{hba_path} ({whose}): " + "; ".join(problems),
        expected="a host entry admitting " + ", ".join(inventory.database_clients()),
        fix="; ".join([*fixes, f"systemctl reload {shlex.quote(inventory.database_service.unit)}"]),
    )


def _auth_method(entries: list[HbaEntry]) -> str:
    """The password method the server's host entries already use (scram-sha-256, PostgreSQL 15's default, else)."""
    used = [e.method for e in entries if e.type.startswith("host") and e.method in PASSWORD_METHODS]
    return used[0] if used else "scram-sha-256"


def _pg_isready(facts: NodeFacts) -> dict[str, tuple[str, ...]]:
    """Per address the database must answer on here, its pg_isready: the VIP, where xcatd (cfgloc) and
    the service nodes connect. Whether it listens on the static IPs too is pg.listen_addresses's (the
    running server's own listen_addresses). Probed here too, one wrong setting failed two checks and
    blocked every check that reads the database, although the database answered where xCAT asks."""
    return {str(facts.inventory.vip.address): pg_isready_command(facts.inventory, str(facts.inventory.vip.address))}


def _start_pg_isready(facts: NodeFacts) -> None:
    if facts.inventory.database.type != "postgresql":
        return
    for command in _pg_isready(facts).values():
        facts.start(*command)


@check("pg.accepting", phases=("post-activate", "active"), reads=_start_pg_isready)
def check_pg_accepting(facts: NodeFacts, inventory: Inventory) -> None:
    """PostgreSQL accepts connections on the VIP, where xcatd and the service nodes reach it."""
    postgresql_only(inventory)
    db = inventory.database
    unit = shlex.quote(inventory.database_service.unit)
    refused = []
    for address, command in _pg_isready(facts).items():
        result = facts.run(*command)
        if result.rc != 0:
            state = PG_ISREADY.get(result.rc, f"exit {result.rc}")
            refused.append(f"{address}:{db.port} {state}")
    verdict(
        not refused,
        observed="; ".join(refused),
        expected=f"PostgreSQL accepting on {inventory.vip.address}:{db.port}",
        fix=f"systemctl restart {unit}  # it runs, yet not there: first make pg.listen_addresses pass; "
        "if the VIP is missing from this node: ip -br addr"
        if facts.unit_active.get(inventory.database_service.unit) == "active"
        else f"systemctl start {unit}; journalctl -u {unit} -n 50  # if it does not start",
    )


@check("pg.server_on_shared_data", phases=("post-activate", "active"), needs=(*ON_SHARED_DATA, *FROM_THE_DATABASE),
       reads=NodeFacts.start_server_settings)
def check_pg_server_on_shared_data(facts: NodeFacts, inventory: Inventory) -> None:
    """The server that answers runs on the shared data directory (its own data_directory), not on a
    local cluster that happens to answer on the same port."""
    postgresql_only(inventory)
    wanted = posixpath.normpath(inventory.database.data_dir)
    server = facts.server_settings()
    running = server.running.get("data_directory") if server else None
    unit = shlex.quote(inventory.database_service.unit)
    if running is None:
        fail(observed=f"the server on port {inventory.database.port} did not tell its data_directory to psql "
                      "(run as postgres, over the local socket)",
             expected=f"a server running on {wanted}",
             fix=f"journalctl -u {unit} -n 50  # why it does not answer psql there")  # fmt: skip
    note(f"the server runs on {running.value}")
    verdict(
        posixpath.normpath(running.value) == wanted,
        observed=f"the server on port {inventory.database.port} runs on {running.value}, not on the shared {wanted}",
        expected=f"data_directory {wanted} (database.data_dir, on the shared data)",
        fix=f"systemctl stop {unit}; make its unit start it with -D {shlex.quote(wanted)} "
        f"(systemctl edit {unit}); systemctl start {unit}",
    )


# pg_controldata's states of a cluster no server runs on that a start recovers from (it was not shut down).
NOT_SHUT_DOWN = ("in production", "in crash recovery", "in archive recovery", "shutting down")


def _start_controldata(facts: NodeFacts) -> None:
    if facts.inventory.database.type == "postgresql":
        facts.start("sh -c %s %s", PG_CONTROLDATA, facts.inventory.database.data_dir)


@check("pg.data_dir_state", phases=("post-activate",), needs=ON_SHARED_DATA, reads=_start_controldata)
def check_pg_data_dir_state(facts: NodeFacts, inventory: Inventory) -> None:
    """PostgreSQL can start on the shared data directory here, and the report says how it was left.

    Its postmaster.pid names no live process of this node other than this node's own postmaster on
    that directory (the server refuses to start over a PID that lives, whoever it is); pg_controldata's
    cluster state is shown (shut down cleanly, or crash recovery to come after an unplanned failover).
    `pair.data_dir_owner` asks the peer about the same PID.
    """
    postgresql_only(inventory)
    data = inventory.database.data_dir
    pid_path = posixpath.join(data, POSTMASTER_PID)
    controldata = facts.run("sh -c %s %s", PG_CONTROLDATA, data)
    state = cluster_state(controldata.stdout)
    owner = parse_postmaster_pid(facts.file(pid_path))
    seen = process_and_cwd(facts.run("sh -c %s %s %s", PROCESS_AND_CWD, str(owner.pid), data).stdout) if owner else None
    in_data = seen is not None and (seen[2] or posixpath.normpath(seen[1]) == posixpath.normpath(data))
    ours = seen is not None and seen[0] == "postgres" and in_data
    if state is None:
        note(f"pg_controldata {data}: {(controldata.stderr or controldata.stdout).strip() or 'no cluster state'}")
    elif state in NOT_SHUT_DOWN and not ours:
        note(f"cluster state '{state}' with no server running: it was not shut down cleanly (an unplanned "
             "failover leaves it so), and PostgreSQL runs crash recovery when it starts")  # fmt: skip
    else:
        note(f"cluster state '{state}'")
    if owner is None:
        note(f"no {POSTMASTER_PID}")
        return
    if seen is None:
        note(f"{POSTMASTER_PID} names pid {owner.pid}, which does not live here (stale: PostgreSQL replaces it)")
        return
    if ours:
        note(f"in use by this node's postmaster (pid {owner.pid})")
        return
    fail(
        observed=f"{pid_path} names pid {owner.pid}, which lives on {facts.node.name} as {seen[0]} "
        f"(working in {seen[1] or 'an unknown directory'}): PostgreSQL refuses to start over a live PID",
        expected=f"{pid_path} absent, stale, or naming this node's postmaster on {data}",
        fix=f"rm {shlex.quote(pid_path)}  # on {facts.node.name}, once pair.data_dir_owner passes "
        "(no postmaster on the peer uses it)",
    )
