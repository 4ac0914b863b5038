"""PostgreSQL: listen_addresses and pg_hba.conf admit the VIP and both static IPs; it answers on them."""

from __future__ import annotations

import ipaddress
import posixpath
import shlex
from collections.abc import Callable

from xcatha_verify.checkkit import ACTIVE, ON_SHARED_DATA, check, fail, note, postgresql_only, verdict
from xcatha_verify.facts.hosts import addresses_for, parse_hosts
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.facts.pg_conf import effective_listen_addresses, listen_covers, parse_postgresql_conf
from xcatha_verify.facts.pg_hba import HbaEntry, hba_covers, parse_pg_hba
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


def _required(inventory: Inventory) -> dict[str, str]:
    """Addresses the database must admit, each with why."""
    wanted = {str(inventory.vip.address): "the VIP"}
    for node in inventory.nodes:
        wanted[str(node.static_ip)] = f"{node.name}'s static IP"
    return wanted


def _db_user(facts: NodeFacts, inventory: Inventory) -> str:
    """The user xCAT connects as (from XCATCFG or cfgloc), or xCAT's default when neither can be read."""
    try:
        return parse_cfgloc(facts.xcat_database_config()[1] or "").user
    except FactError:
        return DEFAULT_DB_USER


def _read(facts: NodeFacts) -> Callable[[str], str | None]:
    return facts.file


@check("pg.listen_addresses", phases=ACTIVE, needs=ON_SHARED_DATA)
def check_pg_listen_addresses(facts: NodeFacts, inventory: Inventory) -> None:
    """The effective listen_addresses (last assignment wins) holds localhost, the VIP and every static IP."""
    postgresql_only(inventory)
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
    listen = effective_listen_addresses(settings)
    resolve = _resolver(facts)

    wanted = {"localhost": "local connections", **_required(inventory)}
    missing = [a for a in wanted if not listen_covers(listen, a, resolve)]
    where = settings.get("listen_addresses")
    origin = f" ({where.file}:{where.line})" if where else " (unset: PostgreSQL's default)"
    complete = ",".join(dict.fromkeys([*listen, *missing]))
    assignment = f"listen_addresses = '{complete}'"
    unit = shlex.quote(inventory.database_service.unit)
    if where is None:
        edit = f"echo {shlex.quote(assignment)} >> {shlex.quote(conf_path)}"
    elif where.file == auto_path:  # ALTER SYSTEM's value wins: change it the way it was set
        sql = shlex.quote(f"ALTER SYSTEM SET {assignment}")
        edit = f"runuser -u postgres -- psql -X -p {inventory.database.port} -c {sql}"
    else:  # the line that wins, in the file that holds it (an include, maybe)
        edit = f"sed -i {shlex.quote(f'{where.line}s/.*/{assignment}/')} {shlex.quote(where.file)}"
    verdict(
        not missing,
        observed=f"listen_addresses = '{','.join(listen)}'{origin}; missing " + ", ".join(
            f"{a} ({wanted[a]})" for a in missing
        ),
        expected="listen_addresses covering " + ", ".join(wanted),
        fix=f"{edit}; systemctl restart {unit}",
    )


@check("pg.hba", phases=ACTIVE, needs=ON_SHARED_DATA)
def check_pg_hba(facts: NodeFacts, inventory: Inventory) -> None:
    """A host entry in pg_hba.conf admits each static IP and the VIP (CIDR containment, first match wins)."""
    postgresql_only(inventory)
    hba_path = inventory.database.hba_file or ""
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
    for address, why in _required(inventory).items():
        entry = hba_covers(entries, address, database=db.name, user=user, server_addresses=server, resolve=resolve)
        wanted = f"host {db.name} {user} {address}/32 {method}"
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
    verdict(
        not problems,
        observed="; ".join(problems),
        expected="a host entry admitting " + ", ".join(_required(inventory)),
        fix="; ".join([*fixes, f"systemctl reload {shlex.quote(inventory.database_service.unit)}"]),
    )


def _auth_method(entries: list[HbaEntry]) -> str:
    """The password method the server's host entries already use (scram-sha-256, PostgreSQL 15's default, else)."""
    used = [e.method for e in entries if e.type.startswith("host") and e.method in PASSWORD_METHODS]
    return used[0] if used else "scram-sha-256"


def _pg_isready(facts: NodeFacts) -> dict[str, tuple[str, ...]]:
    """Per address the database must answer on here (the VIP, this node's static IP), its pg_isready."""
    return {address: pg_isready_command(facts.inventory, address)
            for address in (str(facts.inventory.vip.address), str(facts.node.static_ip))}  # fmt: skip


def _start_pg_isready(facts: NodeFacts) -> None:
    if facts.inventory.database.type != "postgresql":
        return
    for command in _pg_isready(facts).values():
        facts.start(*command)


@check("pg.accepting", phases=("post-activate", "active"), reads=_start_pg_isready)
def check_pg_accepting(facts: NodeFacts, inventory: Inventory) -> None:
    """PostgreSQL accepts connections on the VIP and on this node's static IP."""
    postgresql_only(inventory)
    db = inventory.database
    refused = []
    for address, command in _pg_isready(facts).items():
        result = facts.run(*command)
        if result.rc != 0:
            state = PG_ISREADY.get(result.rc, f"exit {result.rc}")
            refused.append(f"{address}:{db.port} {state}")
    verdict(
        not refused,
        observed="; ".join(refused),
        expected=f"PostgreSQL accepting on {inventory.vip.address}:{db.port} and {facts.node.static_ip}:{db.port}",
        fix=f"systemctl start {inventory.database_service.unit}; check listen_addresses and the VIP (ip -br addr)",
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
    seen = process_and_cwd(facts.run("sh -c %s %s", PROCESS_AND_CWD, str(owner.pid)).stdout) if owner else None
    ours = seen is not None and seen[0] == "postgres" and posixpath.normpath(seen[1]) == posixpath.normpath(data)
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
