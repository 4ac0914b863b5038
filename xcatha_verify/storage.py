"""The shared storage's token: which storage it is, which activation last claimed it, what was mounted.

Each activation writes a fresh token into the first shared path (`stamp`, run on the node taking
over) and the node keeps a copy (nodepaths.STORAGE_RECORD); a deactivation copies the token as it
left it. What that buys, judged by shared.identity and pair.same_storage:
- an empty filesystem mounted in the storage's place carries no token;
- a stale local copy carries an older activation than a node recorded, and even a copy taken of
  the current token is found out by what is mounted: the token names, per mount point, the
  filesystem the activation had there (its UUID, or findmnt's source: server:/export, dev[/dir]);
- another node activating on the same storage (split brain) leaves a token not the active node's.

`python -m xcatha_verify.storage stamp|set-up NODE FIRST_PATH MOUNT_POINT...` runs on the node itself.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from xcatha_verify.facts.system import FINDMNT_ARGV, Mount, parse_findmnt
from xcatha_verify.inventory import SharedPath
from xcatha_verify.nodehelper import run_helper
from xcatha_verify.nodepaths import STORAGE_RECORD, storage_id_path

HEADER = "# xcatha-verify: the shared storage's token, written by each activation (do not edit)"


class StorageError(Exception):
    pass


def mount_points(shared: Iterable[SharedPath]) -> list[str]:
    """Where the shared storage is mounted: each mount-mode path, and the root symlink-mode paths lead into."""
    return list(dict.fromkeys(p for p in (e.path if e.mode == "mount" else e.root or "" for e in shared) if p))


def identity(mount: Mount) -> str:
    """What is mounted, named as both nodes name it: the filesystem's UUID (device names may differ
    between nodes) with the directory a bind mount takes, else findmnt's source; and its type."""
    if mount.uuid:
        bound = f"[{mount.fsroot}]" if mount.fsroot not in ("", "/") else ""
        return f"UUID={mount.uuid}{bound} ({mount.fstype})"
    return f"{mount.source} ({mount.fstype})"


def source_matches(declared: str, mount: Mount) -> bool:
    """Whether the inventory's declared source names what is mounted: `UUID=...` (with a bound
    `[/dir]`) by the filesystem's UUID, anything else as findmnt prints the source."""
    if declared[:5].upper() == "UUID=":
        uuid_part, _, bound = declared[5:].partition("[")
        return mount.uuid.lower() == uuid_part.lower() and (not bound or mount.fsroot == bound.rstrip("]"))
    return mount.source == declared


def mount_command(source: str | None, path: str) -> str:
    """The command that mounts `path`: from the declared source where mount takes it (not a bind
    mount's dev[/dir], which only findmnt prints), else from fstab."""
    if source and "[" not in source:
        return f"mount {shlex.quote(source)} {shlex.quote(path)}"
    return f"mount {shlex.quote(path)}"


@dataclass(frozen=True)
class StorageToken:
    storage: str  # the storage's id, fixed when its first token was written
    generation: int  # the activation that wrote this token: one more than the one before
    token: str  # this activation's own random id
    node: str = ""
    written: str = ""
    mounts: dict[str, str] = field(default_factory=dict)  # mount point: identity(), at that activation

    def render(self) -> str:
        lines = [HEADER, f"storage={self.storage}", f"generation={self.generation}", f"token={self.token}",
                 f"node={self.node}", f"written={self.written}"]  # fmt: skip
        lines += [f"mount={path}\t{ident}" for path, ident in sorted(self.mounts.items())]
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        return f"activation {self.generation}" + (f" by {self.node}" if self.node else "") + (
            f" at {self.written}" if self.written else "")

    def next_activation(self, node: str, mounts: dict[str, str]) -> StorageToken:
        return replace(self, generation=self.generation + 1, token=str(uuid.uuid4()), node=node,
                       written=datetime.now(UTC).isoformat(timespec="seconds"), mounts=mounts)  # fmt: skip


def first_token(storage: str | None = None, node: str = "") -> StorageToken:
    """A storage's first token (activation 0, no mounts recorded yet): a new storage id unless one is given.

    Its token is the storage id itself, so that a set-up writing it on the storage and on the nodes
    apart (the lab) writes the same token everywhere.
    """
    storage = storage or str(uuid.uuid4())
    return StorageToken(storage, 0, storage, node, datetime.now(UTC).isoformat(timespec="seconds"))


def parse_token(text: str | None) -> StorageToken | None:
    """A token file's text -> the token; None for no file or an empty one.

    A file of one bare id (the format before activations were counted) reads as activation 0.
    Raises StorageError for text that is neither.
    """
    lines = [line for line in (text or "").splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return None
    if len(lines) == 1 and "=" not in lines[0]:
        return StorageToken(lines[0].strip(), 0, lines[0].strip())
    values: dict[str, str] = {}
    mounts: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            raise StorageError(f"not a storage token (line {line[:60]!r})")
        if key == "mount":
            path, _, ident = value.partition("\t")
            mounts[path] = ident
        else:
            values[key] = value
    try:
        return StorageToken(values["storage"], int(values["generation"]), values["token"], values.get("node", ""),
                            values.get("written", ""), mounts)  # fmt: skip
    except (KeyError, ValueError) as exc:
        raise StorageError(f"not a storage token (no valid {exc})") from None


def older_than_recorded(carried: StorageToken, recorded: StorageToken, recorder: str) -> str | None:
    """Why the storage carrying `carried` is not the one `recorder` last saw (`recorded`), or None."""
    if recorded.storage != carried.storage:
        return f"{recorder} recorded storage {recorded.storage}; this one is {carried.storage}: another storage"
    if recorded.generation > carried.generation:
        return (f"{recorder} recorded {recorded.describe()}; this storage carries only {carried.describe()}: "
                "an older copy of the shared data")  # fmt: skip
    if recorded.generation == carried.generation and recorded.token != carried.token:
        return (f"{recorder} recorded {recorded.describe()} with another token: a copy of the shared data "
                "activated apart from this one")  # fmt: skip
    return None


def moved_mounts(carried: StorageToken, mounts: dict[str, Mount], points: list[str]) -> dict[str, str]:
    """Each of `points` now mounted from something other than what `carried`'s activation had there: what."""
    return {point: f"{point} is {identity(mounts[point])}; {carried.describe()} had {carried.mounts[point]} there"
            for point in points if point in carried.mounts and point in mounts
            and identity(mounts[point]) != carried.mounts[point]}  # fmt: skip


def fstab_sources(text: str | None) -> dict[str, str]:
    """/etc/fstab's text -> mount point: what its line mounts there (the last line for a point wins)."""
    sources = {}
    for line in (text or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            sources[fields[1].rstrip("/") or "/"] = fields[0]
    return sources


# ---------------------------------------------------------------------- on the node
def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mounted(points: list[str]) -> dict[str, str]:
    try:
        out = subprocess.run(FINDMNT_ARGV, capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise StorageError(f"findmnt failed: {exc}") from exc
    mounts = parse_findmnt(out)
    missing = [p for p in points if p not in mounts]
    if missing:
        raise StorageError(f"not mounted: {', '.join(missing)}")
    return {p: identity(mounts[p]) for p in points}


def _read(path: Path) -> StorageToken | None:
    try:
        return parse_token(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, StorageError) as exc:
        raise StorageError(f"{path}: {exc}") from exc


def stamp(node: str, first_path: str, points: list[str], set_up: bool = False) -> str:
    """Write the next activation's token into the shared storage and record it on this node.

    `set_up` (prepare, the pair's one-time set-up, on the active node): write the first token when
    there is none, and a new one only when it is not this node's or what is mounted is not what it
    recorded (storage moved); else leave it. Without it (activation) the storage must already carry
    a token: an empty filesystem is never claimed.
    """
    token_path = Path(storage_id_path(first_path))
    current = _read(token_path)
    mounts = _mounted(points)
    if current is None:
        if not set_up:
            raise StorageError(f"no storage token in {token_path}: not the pair's shared storage, or one never set "
                               "up (xcatha-run prepare writes its first token)")  # fmt: skip
        # A storage moved here keeps the id and count this node last recorded; else a new storage.
        current = _read(Path(STORAGE_RECORD)) or first_token()
    elif set_up and current.mounts == mounts and getattr(_read(Path(STORAGE_RECORD)), "token", None) == current.token:
        return f"token present ({current.describe()}), this node's, mounts as it recorded: left as it is"
    claimed = current.next_activation(node, mounts)
    _write_atomically(token_path, claimed.render())
    _write_atomically(Path(STORAGE_RECORD), claimed.render())
    return f"{token_path}: {claimed.describe()}, token {claimed.token}; recorded in {STORAGE_RECORD}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[0] not in ("stamp", "set-up"):
        print("usage: python -m xcatha_verify.storage stamp|set-up NODE FIRST_PATH MOUNT_POINT...", file=sys.stderr)
        return 2

    def body() -> int:
        print(stamp(args[1], args[2], args[3:], set_up=args[0] == "set-up"))
        return 0

    return run_helper(body, StorageError, "error", 1)


if __name__ == "__main__":
    sys.exit(main())
