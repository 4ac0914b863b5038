"""Resuming a runbook run: which of its phases are done, whether its process was killed, and which
journal ``xcatha-run --resume`` continues.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.journal_records import GATE_OK, JOURNAL_NAME, RESUMABLE, STEP_DONE, JournalError
from xcatha_verify.runbook_engine.lock import pid_running

log = logging.getLogger(__name__)


def completed_phases(journal: Journal) -> list[str]:
    """The phases, in order, that finished their work: the leading run of phases each of which has
    only ``ok``/``skipped`` steps, only passing (or advisory) gates, and is followed by a
    phase the run went on to (or the run succeeded). The first phase not listed is where a resume starts.

    A phase the run went past without recording anything counts as complete; the last phase the run
    reached counts only when the run succeeded (its after-gate may not have run yet).
    """
    names = journal.phase_names()
    reached = [i for i, name in enumerate(names) if journal.reached(name)]
    last = max(reached, default=-1)
    done: list[str] = []
    for i, name in enumerate(names):
        steps = [s for s in journal.steps if s.phase == name]
        gates = [g for g in journal.gates if g.phase == name]
        good = all(s.status in STEP_DONE for s in steps) and all(g.status in GATE_OK for g in gates)
        went_on = i < last or (journal.status == "succeeded" and i <= last)
        if not (good and went_on):
            break
        done.append(name)
    return done


def abandoned(journal: Journal) -> bool:
    """Still ``running`` on disk, but its process (on this host) is gone: it was killed."""
    return journal.status == "running" and journal.host == socket.gethostname() and not pid_running(journal.pid)


def effective_status(journal: Journal) -> str:
    """The status, with a killed run (see :func:`abandoned`) counted as ``interrupted``."""
    return "interrupted" if abandoned(journal) else journal.status


def _journals(report_root: Path) -> Iterable[Path]:
    if not report_root.is_dir():
        return []
    return report_root.glob(f"*/{JOURNAL_NAME}")


def latest_journal(
    report_root: str | os.PathLike[str], runbook: str | None = None, cluster: str | None = None
) -> Path | None:
    """The newest journal under `report_root` a ``--resume`` can continue, or None.

    Candidates are ``<report_root>/*/journal.json`` whose status is ``failed`` or ``interrupted``, or
    ``running`` with its process gone from this host (killed); filtered by `runbook` and `cluster` when
    given. Newest is the latest ``started_at``, then the latest file change. Succeeded, dry-run and
    refused runs, runs still in progress and unreadable journals are passed over.
    """
    best: tuple[datetime, int, Path] | None = None
    for path in _journals(Path(report_root)):
        try:
            journal = Journal.load(path)
        except JournalError as exc:
            log.debug("skipping %s", exc)
            continue
        if runbook is not None and journal.runbook != runbook:
            continue
        if cluster is not None and journal.cluster != cluster:
            continue
        if effective_status(journal) not in RESUMABLE:
            continue
        try:
            started = datetime.fromisoformat(journal.started_at).astimezone()
            key = (started, path.stat().st_mtime_ns, path)
        except (ValueError, OSError):
            continue
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None
