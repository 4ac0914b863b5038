"""A node's system as util-linux and systemd print it: its mounts (``findmnt -J``) and its units'
states (``systemctl show``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError

# The one findmnt call both sides make: the checks (over SSH, facts/node.py) and the storage token's
# stamp on the node itself (storage.py), so that both name a mount the same way.
FINDMNT_ARGV = ("findmnt", "-J", "-l", "-o", "TARGET,SOURCE,FSTYPE,UUID,FSROOT")


@dataclass(frozen=True)
class Mount:
    target: str
    source: str  # as findmnt prints it: /dev/sdb1, server:/export, or device[/dir] for a bind mount
    fstype: str
    uuid: str = ""  # the filesystem's UUID (block devices; empty for NFS and tmpfs)
    fsroot: str = ""  # the directory of that filesystem mounted here ("/" unless a bind mount)


def parse_findmnt(text: str) -> dict[str, Mount]:
    """`findmnt -J -l -o TARGET,SOURCE,FSTYPE,UUID,FSROOT` -> target: Mount (the last mount on a target
    shows; columns not asked for are left empty)."""
    try:
        rows = json.loads(text)["filesystems"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FactError(f"findmnt -J: unexpected output: {exc}") from exc
    return {r["target"]: Mount(r["target"], r.get("source") or "", r.get("fstype") or "", r.get("uuid") or "",
                               r.get("fsroot") or "") for r in rows}  # fmt: skip


def parse_unit_show(text: str, units: list[str]) -> dict[str, tuple[str, str]]:
    """`systemctl show -p Id,LoadState,ActiveState,UnitFileState U...` -> unit: (active state, boot state).

    Blocks come in argument order, separated by blank lines; a unit that is not installed gets
    ("not-found", "not-found").
    """
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
              for block in text.strip().split("\n\n") if block.strip()]  # fmt: skip
    if len(blocks) != len(units):
        raise FactError(f"systemctl show: {len(blocks)} blocks for {len(units)} units")
    states = {}
    for unit, block in zip(units, blocks, strict=True):
        if block.get("LoadState") == "not-found":
            states[unit] = ("not-found", "not-found")
        else:
            states[unit] = (block.get("ActiveState") or "unknown", block.get("UnitFileState") or "unknown")
    return states


def unit_files(systemctl_cat: str) -> list[tuple[str, str]]:
    """(path, text) of each file `systemctl cat UNIT` printed, in systemd's order (drop-ins after the unit)."""
    found = re.split(r"^# (/\S+)\n", systemctl_cat, flags=re.MULTILINE)
    return [(found[i], found[i + 1]) for i in range(1, len(found) - 1, 2)]


def effective_exec_start(systemctl_cat: str) -> tuple[str, str] | None:
    """(file, command) of the unit's ExecStart as systemd runs it: the last file that sets ExecStart
    decides, its last assignment; None when there is none (or a drop-in's `ExecStart=` reset it to none)."""
    winner: tuple[str, str] | None = None
    for path, text in unit_files(systemctl_cat):
        starts = [line.split("=", 1)[1].strip() for line in text.splitlines() if re.match(r"\s*ExecStart\s*=", line)]
        if starts:
            winner = (path, starts[-1]) if starts[-1] else None
    return winner
