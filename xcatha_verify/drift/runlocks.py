"""Whether a runbook run holds the pair's run lock, as a drift run sees it before and after its checks.

``xcatha-run`` writes its lock (:class:`~xcatha_verify.runbook_engine.lock.LockInfo`) at ``NODE_LOCK`` on
every node of the run and on the shared storage, where it is mounted. A drift run asks every node once,
in one command: its node lock and, when the shared storage is mounted there, the storage's lock. A node
that cannot be reached is not asked (and, as drift's planning does, not asked again by this run). A lock
that is not stale (:meth:`LockInfo.stale_reason`) belongs to a live run: the pair is being changed on
purpose, and what the checks would see is a pair half-way through, not drift.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.inventory import Inventory
from xcatha_verify.nodepaths import NODE_LOCK, shared_lock_path
from xcatha_verify.report import redact
from xcatha_verify.runbook_engine.lock import LockInfo
from xcatha_verify.targets import ensure_reachable, give_up_on

log = logging.getLogger(__name__)

# Between the two files in the one command's output: lock files are one line of JSON, never this.
_SEPARATOR = "--- xcatha shared-storage lock ---"
_READ_BOTH = (
    'cat -- "$1" 2>/dev/null; echo; echo "$4"; '
    'if mountpoint -q "$2"; then cat -- "$3" 2>/dev/null; fi; exit 0'
)


@dataclass(frozen=True)
class FoundLock:
    """One lock file: what it says, where it is (``"xcatmn1"``, ``"shared storage via xcatmn1"``, as
    xcatha-run names its places) and why it looks abandoned (None: a live run's)."""

    info: LockInfo
    where: str
    stale: str | None

    def describe(self) -> str:
        """``run RUN_ID, RUNBOOK, OWNER, since STARTED_AT`` (secrets masked)."""
        info = self.info
        return redact(f"run {info.run_id}, {info.runbook}, {info.owner}, since {info.started_at}")


@dataclass
class LockSurvey:
    """Every readable lock file found, and the nodes that were not asked (name -> why)."""

    found: list[FoundLock] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def holder(self) -> FoundLock | None:
        """The first lock of a live run, or None."""
        return next((lock for lock in self.found if lock.stale is None), None)

    @property
    def stale(self) -> list[FoundLock]:
        return [lock for lock in self.found if lock.stale is not None]

    def places_of(self, run_id: str) -> list[str]:
        """Where the lock files of run `run_id` are."""
        return [lock.where for lock in self.found if lock.info.run_id == run_id]

    def stale_note(self) -> str:
        """One line naming the stale locks (one entry per run) and why each looks abandoned; "" for none."""
        first_of_run: dict[str, FoundLock] = {}
        for lock in self.stale:
            first_of_run.setdefault(lock.info.run_id, lock)
        if not first_of_run:
            return ""
        entries = [f"{lock.describe()}, at {', '.join(self.places_of(run_id))} ({lock.stale})"
                   for run_id, lock in first_of_run.items()]  # fmt: skip
        return (f"stale run lock passed over: {'; '.join(entries)}; "
                "`xcatha-run --break-lock` removes it")  # fmt: skip


def _parse(text: str, where: str) -> FoundLock | None:
    if not text.strip():
        return None
    info = LockInfo.from_text(text)
    if info is None:  # xcatha-run refuses to start on it; a drift run has nothing to judge it by
        log.warning("run lock at %s is not a lock file we can read: %s", where, redact(" ".join(text.split()))[:80])
        return None
    return FoundLock(info, where, info.stale_reason())


def survey_run_locks(inventory: Inventory) -> LockSurvey:
    """The run locks on every reachable node of `inventory` (one command per node)."""
    survey = LockSurvey()
    shared = inventory.shared_data[0].path
    for node in inventory.nodes:
        try:
            host = ensure_reachable(inventory, node)
        except NodeUnreachable as exc:
            survey.unreachable[node.name] = str(exc)
            give_up_on(inventory, node, str(exc))  # its checks, if any run, do not wait for it again
            continue
        result = host.run("sh -c %s sh %s %s %s %s", _READ_BOTH, NODE_LOCK, shared, shared_lock_path(shared),
                          _SEPARATOR)  # fmt: skip
        if result.rc != 0:
            log.warning("could not read the run locks on %s: %s", node.name, redact(result.stderr.strip()))
            continue
        node_text, _, shared_text = result.stdout.partition(f"\n{_SEPARATOR}\n")
        for text, where in ((node_text, node.name), (shared_text, f"shared storage via {node.name}")):
            if (lock := _parse(text, where)) is not None:
                survey.found.append(lock)
    return survey
