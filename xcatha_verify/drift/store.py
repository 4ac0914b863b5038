"""The drift history on disk: one record per drift run, what changed since the previous one, and the
files monitors read.

A drift run checks every node against its role and leaves one directory under the report root, holding
each node's reports (HTML, JUnit XML, JSON summary, ``docs/report-schema.md``). :func:`record_run` turns
those per-node summaries into one :class:`DriftRun`, then, holding ``REPORT_ROOT/.drift.lock``
(``fcntl.flock``), updates the history::

    REPORT_ROOT/
      .drift.lock             the lock; never removed
      index.html              every run, newest first, with what changed since the run before it
      latest.json             the newest run's record
      xcatha.prom             Prometheus textfile for node_exporter's textfile collector
      RUN_ID/run.json         one run's record (the same document as latest.json was for it)
      RUN_ID/<stamp>-<cluster>-<node>-drift-<role>.{html,xml,json}

Every file is written to a temporary file in its directory and renamed over the old one, so a reader
never sees half a file, and the lock keeps two concurrent runs from overwriting each other's view of
the history. The records follow ``docs/drift-schema.md`` (schema version "2").

What changed is kept in each run's record: a check failing now and not failing in the run before is
*newly failing*; failing in both is *still failing* with the time its failing streak began (carried
from record to record, so it survives retention); failing before and not now is *resolved*; failing
before on a node that could not be reached now is *not checked*, and keeps its streak. Runs are
ordered by ``started_at``; a run recorded after a later-started one (two runs at once) is slotted in
and the records after it are recomputed.

A run that found a runbook holding the run lock (:func:`record_in_progress`) judged nothing: it has no
changes, and each run is compared with the last *judged* run before it, so a failure's streak (or its
resolution) carries across the failover.

Only the CLI turns the outcome into an exit status: :func:`xcatha_verify.drift.records.exit_status`.
"""


from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from xcatha_verify.drift.build import build_in_progress_run, build_run
from xcatha_verify.drift.changes import diff_runs
from xcatha_verify.drift.page import render_index
from xcatha_verify.drift.prometheus import render_prometheus
from xcatha_verify.drift.records import (
    INDEX_NAME,
    LATEST_NAME,
    LOCK_NAME,
    PROM_NAME,
    RUN_NAME,
    DriftRun,
    NodeOutcome,
    parse_time,
)  # fmt: skip
from xcatha_verify.errors import UsageError
from xcatha_verify.files import write_atomic
from xcatha_verify.runbook_engine.lock import LockInfo

log = logging.getLogger(__name__)
DEFAULT_KEEP_DAYS = 30


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text, mode)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _locked(report_root: Path) -> Iterator[None]:
    """Hold ``report_root/.drift.lock`` exclusively (flock: released when the descriptor closes, even on a crash)."""
    report_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(report_root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sort_key(item: tuple[Path, DriftRun]) -> tuple[datetime, str]:
    return item[1].started, item[1].run_id


def load_runs(report_root: Path) -> list[tuple[Path, DriftRun]]:
    """Every run directory directly under `report_root` with a readable ``run.json``, oldest first."""
    runs = []
    for record in Path(report_root).glob(f"*/{RUN_NAME}"):
        if record.parent.is_symlink():
            continue
        try:
            run = DriftRun.from_dict(json.loads(record.read_text(encoding="utf-8")))
            parse_time(run.started_at)  # a bad time is skipped like a bad file
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable drift record %s: %s", record, exc)
            continue
        runs.append((record.parent, run))
    return sorted(runs, key=_sort_key)


def _remove_old(runs: list[tuple[Path, DriftRun]], keep_days: int, now: datetime | None,
                keep: set[Path]) -> list[Path]:  # fmt: skip
    if keep_days < 0:
        raise UsageError(f"--keep-days {keep_days}: expected 0 or more days")
    if not runs:
        return []
    moment = now or datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.astimezone()
    cutoff = moment - timedelta(days=keep_days)
    protected = {runs[-1][0].resolve(), *(p.resolve() for p in keep)}
    removed = []
    for directory, run in runs:
        if run.started < cutoff and directory.resolve() not in protected:
            log.info("retention: removing %s (started %s, older than %d days)", directory, run.started_at, keep_days)
            shutil.rmtree(directory)
            removed.append(directory)
    return removed


def apply_retention(report_root: Path, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Remove the run directories (those holding ``run.json``) that started more than `keep_days` days before
    `now`, never the newest run; the directories removed. Takes the history lock; :func:`record_run` applies
    retention itself, under the lock it already holds.
    """
    report_root = Path(report_root)
    with _locked(report_root):
        return _remove_old(load_runs(report_root), keep_days, now, set())


def record_run(
    report_root: Path,
    run_dir: Path,
    cluster: str,
    started_at: str,
    node_results: list[NodeOutcome],
    *,
    keep_days: int = DEFAULT_KEEP_DAYS,
    now: datetime | None = None,
    note: str = "",
) -> DriftRun:
    """Record a drift run and update the history; the run, with its `changes`.

    `run_dir` is the run's directory directly under `report_root` (its name is the run id) holding the
    nodes' reports. Under the lock: ``run_dir/run.json`` is written with the changes since the last judged
    run that started before it (runs that started after it and were recorded first are recomputed), runs
    older than `keep_days` are removed (never the newest, nor this one), then ``index.html``,
    ``latest.json`` and ``xcatha.prom`` are rewritten from the newest run. `note`: one line kept in the
    record (a stale run lock the run passed over). `now` is for retention (tests).
    """
    run_dir = _checked_run_dir(report_root, run_dir, keep_days)
    run = build_run(run_dir, cluster, started_at, node_results)
    run.note = note
    return _record(Path(report_root), run_dir, run, keep_days, now)


def record_in_progress(
    report_root: Path,
    run_dir: Path,
    cluster: str,
    started_at: str,
    lock: LockInfo,
    found_on: list[str],
    nodes: dict[str, str],
    *,
    keep_days: int = DEFAULT_KEEP_DAYS,
    now: datetime | None = None,
) -> DriftRun:
    """Record a drift run that found `lock` held by a live run (at `found_on`): verdict ``in-progress``, no
    check judged, exit status 0. `nodes`: node -> ``""`` when asked, else why it could not be reached.
    The history is updated as by :func:`record_run`; the next judged run compares with the last judged one.
    """
    run_dir = _checked_run_dir(report_root, run_dir, keep_days)
    run = build_in_progress_run(run_dir, cluster, started_at, lock, found_on, nodes)
    return _record(Path(report_root), run_dir, run, keep_days, now)


def _checked_run_dir(report_root: Path, run_dir: Path, keep_days: int) -> Path:
    report_root, run_dir = Path(report_root), Path(run_dir)
    if run_dir.resolve().parent != report_root.resolve():
        raise UsageError(f"run directory {run_dir} must be directly under the report directory {report_root}")
    if keep_days < 0:
        raise UsageError(f"--keep-days {keep_days}: expected 0 or more days")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _last_judged(runs: list[tuple[Path, DriftRun]], position: int) -> DriftRun | None:
    """The newest judged run before `position`: what a run is compared with (runs in progress judged nothing)."""
    return next((run for _, run in reversed(runs[:position]) if run.judged), None)


def _record(report_root: Path, run_dir: Path, run: DriftRun, keep_days: int, now: datetime | None) -> DriftRun:
    with _locked(report_root):
        runs = [(d, r) for d, r in load_runs(report_root) if d.resolve() != run_dir.resolve()]
        runs = sorted([*runs, (run_dir, run)], key=_sort_key)
        position = next(i for i, (d, _) in enumerate(runs) if d == run_dir)
        for i in range(position, len(runs)):
            directory, later = runs[i]
            changes = diff_runs(_last_judged(runs, i), later)
            if later is run or changes != later.changes:
                later.changes = changes
                _write_json(directory / RUN_NAME, later.to_dict())
        removed = _remove_old(runs, keep_days, now, {run_dir})
        kept = [(d, r) for d, r in runs if d not in removed]
        newest = kept[-1][1]
        _write_atomic(report_root / INDEX_NAME, render_index([r for _, r in kept]))
        _write_json(report_root / LATEST_NAME, newest.to_dict())
        _write_atomic(report_root / PROM_NAME, render_prometheus(newest))
    return run
