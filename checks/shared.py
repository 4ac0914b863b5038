"""Shared data: connected (mounted, writable) on the active node and the pair's own storage there,
disconnected on the standby."""

from __future__ import annotations

import shlex

from xcatha_verify.checkkit import ACTIVE, ON_SHARED_DATA, STANDBY, check, fail, note, verdict
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, SharedPath
from xcatha_verify.nodepaths import STORAGE_RECORD, storage_id_path
from xcatha_verify.storage import (
    StorageError,
    StorageToken,
    fstab_sources,
    identity,
    mount_command,
    mount_points,
    moved_mounts,
    older_than_recorded,
    parse_token,
    source_matches,
)


def _connection(facts: NodeFacts, entry: SharedPath) -> tuple[bool, str]:
    """Whether `entry` is connected on the node, and what was seen."""
    if entry.mode == "mount":
        mount = facts.mounts.get(entry.path)
        if mount is None:
            return False, f"{entry.path} is not a mount point"
        problems = []
        if entry.source and not source_matches(entry.source, mount):
            problems.append(f"source {mount.source}" + (f" (UUID={mount.uuid})" if mount.uuid else "")
                            + f", expected {entry.source}")
        if entry.fstype and mount.fstype != entry.fstype:
            problems.append(f"fstype {mount.fstype}, expected {entry.fstype}")
        seen = f"{entry.path} mounted from {mount.source} ({mount.fstype})"
        return not problems, seen + (": " + "; ".join(problems) if problems else "")
    root = entry.root or ""
    target = facts.run("readlink -f -- %s", entry.path).stdout.strip()
    if not target.startswith(root.rstrip("/") + "/"):
        return False, f"{entry.path} resolves to {target or 'nothing'}, not into {root}"
    if root not in facts.mounts:
        return False, f"{entry.path} -> {target}, but the shared root {root} is not mounted"
    return True, f"{entry.path} -> {target} on {facts.mounts[root].source}"


def _writable_probe(inventory: Inventory) -> str:
    """Prints each shared path where a probe file cannot be created (and removed)."""
    return "; ".join(
        f"p=$(mktemp -p {shlex.quote(p)} .xcatha-probe.XXXXXX 2>/dev/null) && rm -f \"$p\" || echo {shlex.quote(p)}"
        for p in (e.path for e in inventory.shared_data)
    )


@check("shared.connected", phases=ACTIVE, reads=lambda facts: facts.start(_writable_probe(facts.inventory)))
def check_shared_connected(facts: NodeFacts, inventory: Inventory) -> None:
    """Every shared path is connected (mount point, or symlink into the mounted shared root) and writable.

    The probe runs on every path beside the other reads; a path not connected is reported as such.
    """
    seen = {e.path: _connection(facts, e) for e in inventory.shared_data}
    missing = [p for p, (ok, _) in seen.items() if not ok]
    unwritable = facts.run(_writable_probe(inventory)).stdout.split()
    readonly = [p for p in seen if p in unwritable and p not in missing]
    verdict(
        not missing and not readonly,
        observed="; ".join([seen[p][1] for p in missing] + [f"{p} is not writable" for p in readonly]),
        expected="connected and writable: " + ", ".join(seen),
        fix="; ".join(
            [("umount " + shlex.quote(e.path) + " && " if e.path in facts.mounts else "")  # the wrong one off
             + mount_command(e.source, e.path) if e.mode == "mount"
             else f"ln -sfn {e.root}{e.path} {e.path}" for e in inventory.shared_data if e.path in missing]
            + [f"mount -o remount,rw {e.path if e.mode == 'mount' else e.root}"
               for e in inventory.shared_data if e.path in readonly]
        ),
    )  # fmt: skip


@check("shared.disconnected", phases=STANDBY)
def check_shared_disconnected(facts: NodeFacts, inventory: Inventory) -> None:
    """No shared path is connected here: only the active node may use the shared data."""
    connected = [(e, seen) for e in inventory.shared_data for ok, seen in [_connection(facts, e)] if ok]
    verdict(
        not connected,
        observed="; ".join(seen for _, seen in connected),
        expected="none connected: " + ", ".join(e.path for e in inventory.shared_data),
        fix="; ".join(
            f"umount {e.path}" if e.mode == "mount" else f"umount {e.root}" for e, _ in connected
        ) + "  # on this node, its services stopped first",
    )


def _token(facts: NodeFacts, path: str) -> StorageToken | None:
    """The storage token at `path` on the node (None: no file, or an empty one)."""
    try:
        return parse_token(facts.file(path))
    except StorageError as exc:
        fail(observed=f"{path} on {facts.node.name}: {exc}", expected="the storage token xcatha-run writes",
             fix=f"connect the pair's shared storage; {path} is written by xcatha-run only, never by hand")  # fmt: skip


def _recorded(facts: NodeFacts) -> tuple[StorageToken | None, str | None]:
    """The token this node recorded (None: none yet), and what is wrong with its record file, if anything."""
    try:
        return parse_token(facts.file(STORAGE_RECORD)), None
    except StorageError as exc:
        return None, f"{STORAGE_RECORD}: {exc}"


def _reconnect(facts: NodeFacts, token: StorageToken | None, points: list[str]) -> str:
    """Unmount `points` and mount the pair's storage there; fstab's line for each is shown, since what
    it names is what `mount` takes (a wrong line mounts the same wrong thing again)."""
    fstab = fstab_sources(facts.file("/etc/fstab"))
    had = f"what {token.describe()} had there" if token else "the pair's shared storage"
    return "; ".join(
        f"umount {shlex.quote(p)} && mount {shlex.quote(p)}  # fstab on {facts.node.name} mounts "
        f"{fstab.get(p, 'nothing')} at {p}: correct that line first unless it is {had}"
        + (f" ({token.mounts[p]})" if token and p in token.mounts else "")
        for p in points
    )


@check("shared.identity", phases=ACTIVE, needs=("shared.connected",))
def check_shared_identity(facts: NodeFacts, inventory: Inventory) -> None:
    """What is connected is the pair's storage as its last activation left it: token, filesystems, no newer record.

    It carries the storage token, each mount point holds the filesystem that activation recorded, and
    this node recorded no newer activation.

    An empty filesystem in its place carries no token; a stale local copy, even one with a copy of the
    current token, is another filesystem (or an older activation). In the activation's shared-data gate
    this runs before PostgreSQL starts on it.
    """
    first = inventory.shared_data[0].path
    token_path = storage_id_path(first)
    points = mount_points(inventory.shared_data)
    token = _token(facts, token_path)
    if token is None:
        here = facts.mounts.get(points[0]) if points else None
        fail(observed=f"no storage token at {token_path}"
             + (f": {points[0]} is {identity(here)}" if here else "")
             + " - an empty or another filesystem, not the pair's shared storage",
             expected=f"{token_path}, written by the pair's activations",
             fix=_reconnect(facts, None, points[:1]) + ". Only for the pair's new (or moved) storage, its first "
             "token: xcatha-run prepare")  # fmt: skip
    moved = moved_mounts(token, facts.mounts, points)
    record, unreadable = _recorded(facts)
    stale = older_than_recorded(token, record, facts.node.name) if record else None
    problems = [*moved.values(), *(p for p in (unreadable, stale) if p)]
    note(f"{token_path}: {token.describe()}; mounts " + (", ".join(
        f"{p} {identity(facts.mounts[p])}" for p in points if p in facts.mounts) or "none"))
    verdict(
        not problems,
        observed="; ".join(problems),
        expected=f"the filesystems {token.describe()} recorded, and no activation newer than it recorded on this node",
        fix=_reconnect(facts, token, list(moved)) if moved else
        "connect the storage the pair last used (see its mount source on the node that was active last); "
        "do not start PostgreSQL on this copy",
    )  # fmt: skip


@check("shared.claimed", phases=ACTIVE, needs=ON_SHARED_DATA)
def check_shared_claimed(facts: NodeFacts, inventory: Inventory) -> None:
    """The storage's token is the one this node wrote at its activation: no node activated on it since.

    Another node's token means it activated on the same storage (split brain); none of this node's,
    that its activation did not claim the storage.
    """
    token_path = storage_id_path(inventory.shared_data[0].path)
    token = _token(facts, token_path)
    record, unreadable = _recorded(facts)
    ours = token is not None and record is not None and record.token == token.token
    verdict(
        ours and token is not None and token.node == facts.node.name,
        observed=f"{token_path}: {token.describe() if token else 'none'}; {STORAGE_RECORD}: "
        + (record.describe() if record else unreadable or "none"),
        expected=f"the token {facts.node.name} wrote at its activation, in both",
        fix=(f"{token.node or 'another node'} activated on this storage after {facts.node.name}: only one node may "
             f"have it connected (shared.disconnected on {token.node or 'the peer'}); then, for {facts.node.name} to "
             f"keep it, claim it again: xcatha-run prepare --node {facts.node.name}")
        if token and token.node != facts.node.name else
        f"this node did not claim the storage when it was activated (or lost its record): "
        f"xcatha-run prepare --node {facts.node.name} writes a token of its own",
    )  # fmt: skip
