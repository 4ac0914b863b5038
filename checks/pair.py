"""Both nodes at once: one VIP holder, the peer deactivated, /etc/hosts and clocks in step, same storage."""

from __future__ import annotations

import posixpath
import re
import shlex

import pytest

from xcatha_verify.checkkit import ON_SHARED_DATA, blocked, check, fail, note, postgresql_only, verdict
from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.facts.hosts import diff_hosts
from xcatha_verify.facts.node import XCAT_VERSION_FILE, NodeFacts
from xcatha_verify.facts.postgres import (
    INSTALLED_SERVERS,
    POSTGRES_IN_DIR,
    POSTMASTER_PID,
    data_major,
    installed_majors,
    parse_postmaster_pid,
    postmasters,
)
from xcatha_verify.facts.processes import daemons_outside_units
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.nodepaths import STORAGE_RECORD, storage_id_path
from xcatha_verify.report.records import UNREACHABLE_CAUSE
from xcatha_verify.storage import StorageError, older_than_recorded, parse_token

CLOCK_SAMPLES = 3


def _peer(request: pytest.FixtureRequest, peer: Node) -> NodeFacts:
    """The peer's facts; an unreachable peer blocks the pair check (it is no verdict on either node)."""
    try:
        return request.getfixturevalue("peer_facts")
    except NodeUnreachable as exc:
        blocked(by=peer.name + UNREACHABLE_CAUSE, why=str(exc))


@check("pair.single_vip_holder", phases=("pre-deactivate", "post-activate", "pre-activate", "post-deactivate",
                                          "active", "standby", "drift"), pair=True)  # fmt: skip
def check_single_vip_holder(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node, inventory: Inventory,
                           phase: str) -> None:  # fmt: skip
    """Exactly one node holds the VIP (none only between deactivation and activation)."""
    other = _peer(request, peer)
    holders = [f.node.name for f in (facts, other) if f.holds_vip]
    allowed = {1, 0} if phase in ("post-deactivate", "pre-activate") else {1}
    verdict(
        len(holders) in allowed,
        observed=f"VIP {inventory.vip.address} held by: {', '.join(holders) or 'no node'}",
        expected="exactly one holder" + (" (or none, between deactivation and activation)" if 0 in allowed else ""),
        fix="remove the VIP from every node but the active one (ip addr del ...)" if holders
        else f"activate one node: xcatha-run activate --node {facts.node.name}",
    )


@check("pair.peer_deactivated", phases=("pre-activate",), pair=True)
def check_peer_deactivated(request: pytest.FixtureRequest, peer: Node, inventory: Inventory) -> None:
    """The peer holds no VIP, runs none of the services and has none of the shared data mounted.

    An unreachable peer blocks it, never passes it.
    """
    other = _peer(request, peer)
    running = [s.unit for s in other.running_services]
    stray = daemons_outside_units(other)  # started by hand: a deactivation's systemctl stop leaves them
    mounted = [e.path for e in inventory.shared_data if e.mode == "mount" and e.path in other.mounts] + [
        e.root for e in inventory.shared_data if e.mode == "symlink" and e.root in other.mounts]
    problems = ([f"holds the VIP ({', '.join(map(str, other.vip_addresses))})"] if other.holds_vip else []) + (
        [f"runs {', '.join(running)}"] if running else []
    ) + [f"runs {p.name} (pid {p.pid}) outside systemd" for _, p in stray] + (
        [f"has the shared data mounted ({', '.join(dict.fromkeys(mounted))})"] if mounted else [])
    # Every command runs on the peer (xcatha-run deactivate also unmounts the shared data).
    deactivate = running or other.holds_vip
    fixes = ([f"xcatha-run deactivate --node {peer.name}"] if deactivate else []) + [
        f"kill {p.pid}" for _, p in stray] + (
        [] if deactivate else [f"umount {shlex.quote(m)}" for m in reversed(dict.fromkeys(mounted))])
    verdict(
        not problems,
        observed=f"{peer.name} " + " and ".join(problems),
        expected=f"{peer.name} deactivated: no VIP, no service running, no shared data mounted",
        fix="; ".join(fixes) + f"  # on {peer.name}",
    )  # fmt: skip


@check("pair.hosts_in_sync", phases=("pre-deactivate", "pre-activate", "post-activate", "drift"), pair=True)
def check_hosts_in_sync(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node) -> None:
    """/etc/hosts says the same on both nodes (order, spacing and comments aside)."""
    other = _peer(request, peer)
    diff = diff_hosts(facts.file("/etc/hosts") or "", other.file("/etc/hosts") or "", facts.node.name, peer.name)
    verdict(
        not diff,
        observed="\n".join(diff),
        expected="the same /etc/hosts entries on both nodes",
        fix=f"copy /etc/hosts from the active node to the other (scp /etc/hosts {peer.name}:/etc/hosts)",
    )


def _release(version: str) -> tuple[int, ...] | None:
    """The numbers of an xCAT version as the node reports it (``2.19.0 (git commit ...)``), None when unknown."""
    found = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(n) for n in found.group(1).split(".")) if found else None


@check("pair.same_xcat_version", phases=("pre-deactivate", "pre-activate", "drift"), pair=True)
def check_same_xcat_version(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node) -> None:
    """Both nodes have the same xCAT version: the standby takes over the same database, tables and certificates."""
    other = _peer(request, peer)
    versions = {facts.node.name: facts.xcat_version, peer.name: other.xcat_version}
    releases = {name: _release(v) for name, v in versions.items()}
    if len(set(versions.values())) == 1 and all(releases.values()):
        return
    known = {name: r for name, r in releases.items() if r}
    if len(known) == 2 and len(set(known.values())) == 2:
        older, newer = sorted(known, key=lambda name: known[name])
        fix = (f"on {older}: update xCAT to {versions[newer]}, as {newer} has it (the same xCAT packages on both "
               f"management nodes; the database and its tables are shared)")  # fmt: skip
    elif len(known) == 2:  # the same release, builds apart
        fix = f"install the same xCAT build on both nodes ({'; '.join(f'{n}: {v}' for n, v in versions.items())})"
    else:
        missing = [name for name in versions if name not in known]
        fix = f"on {', '.join(missing)}: install xCAT ({XCAT_VERSION_FILE} is where its version is read)"
    fail(observed="; ".join(f"{name}: xCAT {version}" for name, version in versions.items()),
         expected="the same xCAT version on both management nodes", fix=fix)  # fmt: skip


def _offset(a: NodeFacts, b: NodeFacts, tolerance: float) -> tuple[float, float]:
    """Clock of b minus clock of a, and its error bound, from the sample pair with the tightest round trips.

    Sampling stops early once the bound is a small fraction of the tolerance.
    """
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_SAMPLES):
        off_a, err_a = a.clock_sample()
        off_b, err_b = b.clock_sample()
        candidate = (off_b - off_a, err_a + err_b)
        if best is None or candidate[1] < best[1]:
            best = candidate
        if best[1] < tolerance / 4:
            break
    assert best is not None
    return best


@check("pair.clock_offset", phases=("pre-deactivate", "pre-activate", "post-activate", "drift"), pair=True)
def check_clock_offset(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node, inventory: Inventory) -> None:
    """The clocks differ by less than the tolerance, and a running time daemon says it is synchronised."""
    other = _peer(request, peer)
    tolerance = inventory.clock.tolerance_seconds
    offset, bound = _offset(facts, other, tolerance)
    problems = []
    if bound >= tolerance:
        problems.append(f"cannot measure within {tolerance}s: round trips too slow (±{bound:.3f}s)")
    elif abs(offset) + bound >= tolerance:
        problems.append(f"{peer.name} is {offset:+.3f}s (±{bound:.3f}s) from {facts.node.name}")
    service = inventory.time_service
    for each in (facts, other) if service else ():
        assert service is not None
        if each.unit_active.get(service.unit) != "active":
            continue
        state = _sync_state(each, service.role)
        if state:
            problems.append(f"{service.unit} on {each.node.name}: {state}")
    verdict(
        not problems,
        observed="; ".join(problems),
        expected=f"clocks within {tolerance}s of each other; a running time daemon synchronised",
        fix="synchronise both nodes to the same time source (chronyc sources / ntpq -p), then chronyc makestep",
    )


def _sync_state(facts: NodeFacts, role: str) -> str | None:
    """None when the time daemon reports itself synchronised, else what it says."""
    if role == "chronyd":
        out = facts.run("chronyc -n tracking")
        leap = next((line.split(":", 1)[1].strip() for line in out.stdout.splitlines() if line.startswith("Leap")), "")
        return None if out.rc == 0 and leap and leap != "Not synchronised" else f"not synchronised ({leap or out.rc})"
    out = facts.run("ntpstat")
    return None if out.rc == 0 else f"not synchronised (ntpstat exit {out.rc})"


@check("pair.same_storage", phases=("post-activate", "drift"), pair=True, needs=ON_SHARED_DATA)
def check_same_storage(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node, inventory: Inventory) -> None:
    """The active node's storage is the one the other node last used, no older than what it recorded there.

    Its token names the same storage, at the activation the other node recorded when it had the
    storage connected, or a later one.
    """
    other = _peer(request, peer)
    token_path = storage_id_path(inventory.shared_data[0].path)
    connected = next((f for f in (facts, other) if f.holds_vip), None)
    if connected is None:  # both standby: no active node's storage to compare with
        blocked(by="pair.single_vip_holder", why="no node holds the VIP, so no node uses the shared data")
    apart = other if connected is facts else facts
    try:
        token = parse_token(connected.file(token_path))
        record = parse_token(apart.file(STORAGE_RECORD))
    except StorageError as exc:
        fail(observed=f"{token_path} on {connected.node.name} or {STORAGE_RECORD} on {apart.node.name}: {exc}",
             expected="the storage token xcatha-run writes, and each node's copy",
             fix="these files are written by xcatha-run only: connect the pair's shared storage")  # fmt: skip
    if token is None:
        blocked(by="shared.identity", why=f"no storage token at {token_path} on {connected.node.name}")
    stale = older_than_recorded(token, record, apart.node.name) if record else None
    note(f"{connected.node.name} has {token.describe()}; {apart.node.name} recorded "
         + (record.describe() if record else "nothing (never had the storage connected)"))
    verdict(
        stale is None,
        observed=f"{token_path} on {connected.node.name}: {stale}",
        expected=f"the storage {apart.node.name} last used, at its last activation or later",
        fix=f"on {connected.node.name}: stop what started on this storage, disconnect it, and connect the storage "
        f"{apart.node.name} last used (compare both nodes' fstab and mount sources); never run PostgreSQL on an "
        "older copy",
    )  # fmt: skip


@check("pair.pg_major_version", phases=("pre-deactivate", "drift"), pair=True, needs=ON_SHARED_DATA,
       reads=lambda facts: facts.start(INSTALLED_SERVERS))
def check_pg_major_version(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node, inventory: Inventory) -> None:
    """The standby has the PostgreSQL major the shared data directory was made by: it can start on it."""
    postgresql_only(inventory)
    other = _peer(request, peer)
    pg_version = posixpath.join(inventory.database.data_dir, "PG_VERSION")
    holder = next((f for f in (facts, other) if f.file(pg_version) is not None), None)
    if holder is None:  # the shared data is connected (needs), yet no data directory there
        fail(observed=f"{pg_version} on neither {facts.node.name} nor {peer.name}",
             expected=f"the data directory {inventory.database.data_dir} on the shared data of the active node",
             fix=f"check database.data_dir in {inventory.source} (where PostgreSQL's data directory is)")  # fmt: skip
    needed = data_major(holder.file(pg_version))
    installed = {f.node.name: installed_majors(f.run(INSTALLED_SERVERS).stdout) for f in (facts, other)}
    lacking = [name for name, majors in installed.items() if needed not in majors]
    verdict(
        needed is not None and not lacking,
        observed=f"{pg_version} on {holder.node.name}: {(holder.file(pg_version) or '').strip() or 'empty'}; "
        + "; ".join(f"{name} has PostgreSQL {', '.join(map(str, m)) or 'none'}" for name, m in installed.items()),
        expected="the data directory's PostgreSQL major installed on both nodes",
        fix="; ".join(f"on {name}: install the PostgreSQL {needed} server (the shared data directory is "
                      f"{needed}'s; another major cannot start on it without pg_upgrade)" for name in lacking)
        or f"{pg_version} on {holder.node.name} is unreadable: check the shared data directory",
    )  # fmt: skip


@check("pair.data_dir_owner", phases=("post-activate",), pair=True, needs=ON_SHARED_DATA)
def check_data_dir_owner(request: pytest.FixtureRequest, facts: NodeFacts, peer: Node, inventory: Inventory) -> None:
    """No postmaster on the peer works in the shared data directory: one server on it, never two.

    PostgreSQL guards its data directory with postmaster.pid, but only against PIDs of its own node:
    started here while the peer's server still runs on the same storage, it takes the file for stale
    and starts, and two servers write one database. The peer is asked for any postgres process working
    in the directory, whatever postmaster.pid names now.
    """
    postgresql_only(inventory)
    other = _peer(request, peer)
    data = inventory.database.data_dir
    running = postmasters(other.run("sh -c %s %s", POSTGRES_IN_DIR, data).stdout)
    named = parse_postmaster_pid(facts.file(posixpath.join(data, POSTMASTER_PID)))
    unit = inventory.database_service.unit
    under_unit = other.unit_active.get(unit) in ("active", "activating", "reloading")
    note(f"no postgres process on {peer.name} works in {data}")
    verdict(
        not running,
        observed=f"on {peer.name}, postmaster pid {', '.join(map(str, running))} works in {data}"
        + (f" (the {POSTMASTER_PID} {facts.node.name} reads names pid {named.pid})" if named else ""),
        expected=f"no PostgreSQL server on {peer.name} working in {data}",
        fix=(f"systemctl stop {shlex.quote(unit)}" if under_unit else f"kill -INT {' '.join(map(str, running))}")
        + f"  # on {peer.name}; then deactivate it: xcatha-run deactivate --node {peer.name}",
    )
