"""Shared data: connected (mounted, writable) on the active node, disconnected on the standby."""

from __future__ import annotations

import shlex

from xcatha_verify.checkkit import ACTIVE, STANDBY, check, verdict
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, SharedPath


def _connection(facts: NodeFacts, entry: SharedPath) -> tuple[bool, str]:
    """Whether `entry` is connected on the node, and what was seen."""
    if entry.mode == "mount":
        mount = facts.mounts.get(entry.path)
        if mount is None:
            return False, f"{entry.path} is not a mount point"
        problems = []
        if entry.source and mount.source != entry.source:
            problems.append(f"source {mount.source}, expected {entry.source}")
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
            [f"mount {e.source + ' ' if e.source else ''}{e.path}" if e.mode == "mount"
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
