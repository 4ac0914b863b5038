"""One run per pair at a time: a lock file in each of several places, taken all or none.

The caller names the places, typically one on the shared storage and one on each node, so two
operators on two machines cannot both run a runbook against the pair::

    lock = RunLock([LockLocation("/etc/xcat/.xcatha-run.lock", LocalStore(), "shared storage"),
                    LockLocation("/var/lib/xcatha/run.lock", remote_store, "xcatmn2")],
                   owner="root@xcatmn1", runbook="failover", run_id=journal.run_id)
    with lock:              # LockHeld (exit status 1) when any place is taken; then nothing is held
        ...
    lock.break_lock()       # --break-lock: remove whatever lock files exist, returning what they said

A lock file holds one JSON object: ``{"owner", "host", "pid", "runbook", "run_id", "started_at"}``.
A held lock is reported as STALE when it was written on this host by a process that is gone, or when
it is older than `stale_after_s` (6 h); it is never removed automatically, only by :meth:`RunLock.break_lock`.

Where the files live is a :class:`LockStore`: three operations on a path. :class:`LocalStore` is this
machine's filesystem; a store for a remote node implements the same protocol over its connection.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from xcatha_verify.errors import XcathaError, ssh_reason
from xcatha_verify.report import redact

__all__ = [
    "STALE_AFTER_S", "LocalStore", "LockError", "LockHeld", "LockInfo", "LockLocation", "LockStore", "LockStoreError",
    "RunLock", "default_owner", "pid_running",
]

log = logging.getLogger(__name__)

STALE_AFTER_S = 6 * 3600.0


@runtime_checkable
class LockStore(Protocol):
    """Where lock files live. Every method takes absolute paths.

    - ``read(path)``: the file's text, or None when it does not exist.
    - ``create_exclusive(path, text)``: create the file with `text`, mode 0600, atomically: the name appears
      with its whole text or not at all (never an empty lock file, even on a full filesystem). True when this
      call created it, False when the name already existed (never overwrite). Missing parent directories may
      be created.
    - ``rename(path, new_path)``: rename(2) on one filesystem: True when done, False when `path` was gone.
    - ``remove(path)``: remove the file; a file already gone is not an error.

    A failure of the place itself (full, read-only, permission denied) raises :class:`LockStoreError`
    naming the OS's reason; the node being unreachable raises what its connection raises. :class:`RunLock`
    then releases what it took and lets the exception through.
    """

    def read(self, path: str) -> str | None: ...

    def create_exclusive(self, path: str, text: str) -> bool: ...

    def rename(self, path: str, new_path: str) -> bool: ...

    def remove(self, path: str) -> None: ...


class LockError(XcathaError):
    """A run lock could not be taken (exit status 1)."""


class LockStoreError(LockError):
    """A lock file could not be read, written or removed: `doing` (``"write"``) failed with `reason`, the
    OS's own words (``"No space left on device"``)."""

    def __init__(self, path: str, doing: str, reason: str) -> None:
        self.path = path
        self.doing = doing
        self.reason = reason
        super().__init__(f"{path}: cannot {doing} it: {reason}")


class LocalStore:
    """Lock files on this machine's filesystems (local, or shared storage mounted here)."""

    def read(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LockStoreError(path, "read", exc.strerror or str(exc)) from None

    def create_exclusive(self, path: str, text: str) -> bool:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)  # mode 0600
        except OSError as exc:
            raise LockStoreError(path, "write", exc.strerror or str(exc)) from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(text.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            # A hard link gives the complete file its name in one step, and fails on any existing name
            # (a symlink included): two racing runs cannot both win, and no reader sees a partial lock.
            os.link(temp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise LockStoreError(path, "write", exc.strerror or str(exc)) from None
        finally:
            Path(temp).unlink(missing_ok=True)

    def rename(self, path: str, new_path: str) -> bool:
        try:
            os.rename(path, new_path)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise LockStoreError(path, "rename", exc.strerror or str(exc)) from None

    def remove(self, path: str) -> None:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise LockStoreError(path, "remove", exc.strerror or str(exc)) from None


@dataclass(frozen=True)
class LockLocation:
    """One lock file: its path, the store it lives in, and a label for messages (``"xcatmn2"``)."""

    path: str
    store: LockStore
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}:{self.path}" if self.where else self.path


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says."""

    owner: str
    host: str
    pid: int
    runbook: str
    run_id: str
    started_at: str  # ISO 8601 with UTC offset

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=False) + "\n"

    @classmethod
    def from_text(cls, text: str) -> LockInfo | None:
        """The lock, or None when `text` is not a lock file's JSON."""
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict):
                return None
            return cls(
                owner=str(data["owner"]), host=str(data["host"]), pid=int(data["pid"]), runbook=str(data["runbook"]),
                run_id=str(data["run_id"]), started_at=str(data["started_at"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def age_s(self, now: datetime | None = None) -> float | None:
        try:
            started = datetime.fromisoformat(self.started_at)
        except ValueError:
            return None
        if started.tzinfo is None:
            started = started.astimezone()
        return ((now or datetime.now().astimezone()) - started).total_seconds()

    def stale_reason(self, stale_after_s: float = STALE_AFTER_S, now: datetime | None = None) -> str | None:
        """Why this lock looks abandoned, or None when it may belong to a live run."""
        if self.host == socket.gethostname() and not pid_running(self.pid):
            return f"pid {self.pid} is not running on this host"
        age = self.age_s(now)
        if age is not None and age > stale_after_s:
            return f"older than {_human(stale_after_s)}"
        return None


class LockHeld(LockError):
    """Another run holds the lock (exit status 1). The message is one line naming the holder."""

    def __init__(self, location: LockLocation, info: LockInfo | None, text: str, stale: str | None) -> None:
        self.location = location
        self.info = info
        self.text = text
        self.stale = stale  # why it looks stale, or None
        super().__init__(_held_message(location, info, text, stale))


def _human(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    if not parts or (not days and not hours):
        parts.append(f"{secs}s")
    return " ".join(parts[:2])


def _held_message(location: LockLocation, info: LockInfo | None, text: str, stale: str | None) -> str:
    if info is None:
        snippet = redact(" ".join(text.split()))[:80]
        return (f"run lock {location} exists but is not a lock file we can read ({snippet!r}); "
                "if no xcatha-run is running, only `xcatha-run --break-lock` removes it")  # fmt: skip
    age = info.age_s()
    since = info.started_at + (f" ({_human(age)} ago)" if age is not None and age >= 0 else "")
    head = (f"run lock {location} is held by {info.owner} for runbook {info.runbook} (run {info.run_id}) "
            f"since {since}, pid {info.pid} on host {info.host}")  # fmt: skip
    if stale:
        return redact(f"{head}; it looks STALE ({stale}); only `xcatha-run --break-lock` removes it")
    return redact(f"{head}; that run may still be going: wait for it, or if you are sure it is gone, "
                  "only `xcatha-run --break-lock` removes it")  # fmt: skip


def pid_running(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (a zombie counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def default_owner() -> str:
    """``user@host`` of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class RunLock:
    """Lock files at every one of `paths`, all or none. A plain path string lives in `store` (default:
    :class:`LocalStore`); a :class:`LockLocation` brings its own store.

    :meth:`acquire` raises :class:`LockHeld` for the first place already locked (after removing what it
    had taken); any other error from a store also releases first, then propagates. :meth:`release`
    removes only lock files that carry this run's `run_id`. As a context manager: acquire, then release.

    `takes_over` names the runs this one continues (``--resume``, however many resumes deep): a lock file
    of one of them is replaced by ours (renamed aside, checked, then ours created), never one of another run.
    """

    def __init__(
        self, paths: Sequence[str | LockLocation], owner: str, runbook: str, run_id: str, *,
        store: LockStore | None = None, stale_after_s: float = STALE_AFTER_S, takes_over: Collection[str] = (),
    ) -> None:  # fmt: skip
        if not paths:
            raise ValueError("RunLock needs at least one path")
        default = store if store is not None else LocalStore()
        self.locations = [p if isinstance(p, LockLocation) else LockLocation(str(p), default) for p in paths]
        self.owner = owner
        self.runbook = runbook
        self.run_id = run_id
        self.stale_after_s = stale_after_s
        self.takes_over = frozenset(takes_over) - {run_id}
        self.held: list[LockLocation] = []
        self.taken_over: dict[str, str] = {}  # place -> run id whose lock this run took over

    def info(self) -> LockInfo:
        return LockInfo(
            owner=self.owner, host=socket.gethostname(), pid=os.getpid(), runbook=self.runbook, run_id=self.run_id,
            started_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        )  # fmt: skip

    def acquire(self) -> RunLock:
        text = self.info().to_text()
        taken: list[LockLocation] = []
        try:
            for location in self.locations:
                try:
                    self._take(location, text)
                except LockStoreError as exc:  # named by its place, as the operator knows it
                    raise LockError(f"run lock {location}: cannot {exc.doing} it: {exc.reason}") from None
                taken.append(location)
        except BaseException:
            for location in reversed(taken):
                self._remove_ours(location)
            raise
        self.held = taken
        log.info("run lock taken: %s", ", ".join(map(str, taken)))
        return self

    def _take(self, location: LockLocation, text: str) -> None:
        for _ in range(4):  # a lock removed between our create and read, or taken over: try again
            if location.store.create_exclusive(location.path, text):
                return
            existing = location.store.read(location.path)
            if existing is None:
                continue
            info = LockInfo.from_text(existing)
            if info is not None and info.run_id == self.run_id:
                return  # already ours (taken earlier by this run)
            if info is not None and info.run_id in self.takes_over:
                self._take_over(location, info)
                continue
            stale = info.stale_reason(self.stale_after_s) if info is not None else None
            raise LockHeld(location, info, existing, stale)
        raise LockError(f"run lock {location}: cannot be created, yet does not exist (is its directory writable, "
                        "is the node reachable?)")  # fmt: skip

    def _take_over(self, location: LockLocation, info: LockInfo) -> None:
        """Move the lock of a run this one continues out of the way. Renamed aside first and read back
        there, so a lock another run wrote between our read and the rename is put back, not lost."""
        aside = f"{location.path}.taken-over-by-{self.run_id}"
        if not location.store.rename(location.path, aside):
            return  # gone meanwhile
        moved = location.store.read(aside)
        if moved is None:
            return
        moved_info = LockInfo.from_text(moved)
        if moved_info is None or moved_info.run_id not in self.takes_over:
            restored = location.store.create_exclusive(location.path, moved)
            location.store.remove(aside)
            if restored:
                raise LockHeld(location, moved_info, moved, moved_info.stale_reason() if moved_info else None)
            return  # yet another run took the name: the next attempt reports it
        location.store.remove(aside)
        self.taken_over[str(location)] = moved_info.run_id
        log.info("run lock %s: took over the lock of run %s, which this run resumes", location, moved_info.run_id)

    def _remove_ours(self, location: LockLocation) -> bool:
        try:
            existing = location.store.read(location.path)
            info = LockInfo.from_text(existing) if existing is not None else None
            if info is None or info.run_id != self.run_id:
                if existing is not None:
                    log.warning("not removing run lock %s: it is not ours (%s)", location,
                                redact(" ".join(existing.split()))[:200])  # fmt: skip
                return False
            location.store.remove(location.path)
            return True
        except Exception as exc:  # release must go on to the other places; the lock shows up as stale later
            log.warning("could not release run lock %s: %s", location, redact(ssh_reason(exc)))
            return False

    def release(self) -> list[str]:
        """Remove the lock files that carry our run_id, at every place; the places released.

        Failures are logged, not raised: a lock left behind is reported (as STALE) by the next run.
        """
        released = [str(loc) for loc in self.locations if self._remove_ours(loc)]
        self.held = []
        if released:
            log.info("run lock released: %s", ", ".join(released))
        return released

    def break_lock(self) -> dict[str, str]:
        """Remove every lock file at our places, whoever holds them; ``{place: what the file said}``."""
        broken: dict[str, str] = {}
        for location in self.locations:
            existing = location.store.read(location.path)
            if existing is None:
                continue
            location.store.remove(location.path)
            broken[str(location)] = redact(existing.strip())
            log.warning("broke run lock %s: %s", location, broken[str(location)])
        return broken

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
