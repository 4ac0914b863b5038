"""The journal: the record of one runbook run, on disk as ``<run dir>/journal.json`` (``docs/journal-schema.md``).

The executor records as it goes and the journal rewrites its file after every change, atomically (a
temporary file in the same directory, mode 0600, fsync, ``os.replace``), so a run that is killed at any
moment leaves a complete, readable journal of everything up to that moment, and ``--resume`` can start
again from its first incomplete phase (``resume.py``)::

    journal = Journal.create(Path("reports"), "failover", args={"inventory": inv, "node": "xcatmn2"},
                             cluster="prod", inventory=inv, phases=["deactivate", "activate"])
    step = journal.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd")
    journal.finish_step(step, "ok", exit_status=0, output=out, duration=1.2)
    journal.add_gate(GateRecord(phase="activate", when="before", node="xcatmn2", checks=["pre-activate"],
                                status="passed"))
    journal.finish("succeeded")

Every string passes through :func:`xcatha_verify.report.redact` when it is recorded and again whenever
the file is written, so cfgloc passwords and values given to ``register_secret()`` never reach the disk
(not even a secret registered after the text was recorded: the next save masks it).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from xcatha_verify.files import new_run_dir, write_atomic
from xcatha_verify.report import redact
from xcatha_verify.report.records import redact_tree
from xcatha_verify.runbook_engine.journal_records import (
    JOURNAL_NAME,
    RUN_STATUSES,
    SCHEMA_VERSION,
    STEP_STATUSES,
    GateRecord,
    JournalError,
    RunStatus,
    StepRecord,
    StepStatus,
    check_value,
    known_fields,
    now_iso,
    tail,
)  # fmt: skip


@dataclass(kw_only=True)
class Journal:
    """One runbook run. Every recording method saves the file before it returns.

    `run_dir` is where ``journal.json`` lives (and the run's HTML page); it is not part of the JSON.
    `host` and `pid` name the process that runs it, so a journal still ``running`` whose process is gone
    (killed) can be told from one in progress.
    """

    _required: ClassVar[tuple[str, ...]] = ("run_id", "runbook", "status")

    run_id: str
    runbook: str
    run_dir: Path | None = field(default=None, repr=False, compare=False)
    schema_version: str = SCHEMA_VERSION
    args: dict[str, Any] = field(default_factory=dict)
    cluster: str = ""
    inventory: str = ""
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    status: RunStatus = "running"
    failed_phase: str | None = None
    message: str = ""
    pair_now: dict[str, Any] | None = None  # after a stop: what the pair is now (pairnow.PairNow.to_dict)
    resumed_from: list[str] = field(default_factory=list)  # the runs this one continues, oldest first
    phases: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    gates: list[GateRecord] = field(default_factory=list)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    _clock: dict[int, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_value(self.status, RUN_STATUSES, "run status")
        self.args = redact_tree(dict(self.args))
        self.inventory = redact(os.fspath(self.inventory))
        self.message = redact(self.message)
        self.phases = [str(p) for p in self.phases]

    # --- creating and loading ----------------------------------------------------------------------

    @classmethod
    def create(
        cls, report_root: str | os.PathLike[str], runbook: str, *, args: Mapping[str, Any] | None = None,
        cluster: str = "", inventory: str | os.PathLike[str] = "", phases: Sequence[str] = (),
        status: RunStatus = "running", now: datetime | None = None, resumed_from: Sequence[str] = (),
    ) -> Journal:  # fmt: skip
        """A new run under `report_root`: its directory ``<YYYYmmddTHHMMSS>-<runbook>`` (``-2``, ``-3``...
        when that second is taken) is made, the run id is the directory's name, and the journal is saved.
        `resumed_from`: the run ids this run continues (``--resume``), oldest first."""
        when = (now or datetime.now()).astimezone()
        run_dir = new_run_dir(report_root, runbook, when)
        journal = cls(
            run_id=run_dir.name, runbook=runbook, run_dir=run_dir, args=dict(args or {}), cluster=cluster,
            inventory=os.fspath(inventory), phases=list(phases), status=status,
            started_at=when.isoformat(timespec="milliseconds"), resumed_from=[str(r) for r in resumed_from],
        )  # fmt: skip
        journal.save()
        return journal

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], run_dir: Path | None = None) -> Journal:
        known = known_fields(cls, data, "journal")
        known.pop("run_dir", None)
        known.setdefault("host", "")  # unknown: never taken for this host's
        known.setdefault("pid", 0)
        version = str(known.get("schema_version", ""))
        if version != SCHEMA_VERSION:
            raise JournalError(f"journal schema_version {version!r}: this version reads {SCHEMA_VERSION!r}")
        try:
            known["steps"] = [StepRecord.from_dict(s) for s in known.get("steps") or []]
            known["gates"] = [GateRecord.from_dict(g) for g in known.get("gates") or []]
            return cls(**known, run_dir=run_dir)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"journal: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Journal:
        """The journal at `path` (its ``journal.json`` or its run directory); JournalError naming the file."""
        target = Path(path)
        if target.is_dir():
            target = target / JOURNAL_NAME
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
            return cls.from_dict(data, run_dir=target.parent)
        except OSError as exc:
            raise JournalError(f"{target}: cannot read the journal: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise JournalError(f"{target}: not JSON: {exc}") from None
        except JournalError as exc:
            raise JournalError(f"{target}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            data = {
                "schema_version": self.schema_version, "run_id": self.run_id, "runbook": self.runbook,
                "args": self.args, "cluster": self.cluster, "inventory": self.inventory,
                "started_at": self.started_at, "finished_at": self.finished_at, "status": self.status,
                "failed_phase": self.failed_phase, "message": self.message, "phases": self.phases,
                "host": self.host, "pid": self.pid, "pair_now": self.pair_now, "resumed_from": self.resumed_from,
                "steps": [s.to_dict() for s in self.steps], "gates": [g.to_dict() for g in self.gates],
            }  # fmt: skip
            return dict(redact_tree(data))

    # --- saving --------------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        if self.run_dir is None:
            raise ValueError(f"journal {self.run_id}: no run_dir to save in")
        return self.run_dir / JOURNAL_NAME

    def save(self) -> Path:
        """Write ``journal.json`` atomically: temporary file in the same directory, 0600, fsync, rename."""
        with self._lock:
            text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
            return write_atomic(self.path, text, 0o600, durable=True)

    # --- recording -----------------------------------------------------------------------------------

    def start_step(
        self, phase: str, name: str, node: str, command: str, *, index: int | None = None,
        status: StepStatus = "running", note: str = "",
    ) -> StepRecord:  # fmt: skip
        """Record a step as started (``running``, or e.g. ``dry-run``/``skipped`` for one that will not run)
        and save. `index` defaults to its position within `phase`, from 1."""
        check_value(status, STEP_STATUSES, "step status")
        with self._lock:
            if index is None:
                index = 1 + sum(1 for s in self.steps if s.phase == phase)
            record = StepRecord(
                phase=phase, index=index, name=redact(name), node=node, command=redact(command), status=status,
                started_at=now_iso(), attempts=1 if status == "running" else 0, note=redact(note),
            )  # fmt: skip
            self.steps.append(record)
            self._clock[id(record)] = time.monotonic()
            self.save()
            return record

    def finish_step(
        self, record: StepRecord, status: StepStatus, exit_status: int | None = None, output: str = "",
        duration: float | None = None, *, attempts: int | None = None, note: str | None = None,
    ) -> StepRecord:  # fmt: skip
        """Record how a step ended: `output` is masked and cut to its last TAIL_LINES lines; `duration`
        defaults to the time since :meth:`start_step`. Saves."""
        check_value(status, STEP_STATUSES, "step status")
        with self._lock:
            started = self._clock.pop(id(record), None)
            if duration is None and started is not None:
                duration = time.monotonic() - started
            record.status = status
            record.exit_status = exit_status
            record.output_tail = tail(output)
            record.duration_s = None if duration is None else round(duration, 3)
            if attempts is not None:
                record.attempts = attempts
            if note is not None:
                record.note = redact(note)
            self.save()
            return record

    def add_gate(self, gate: GateRecord) -> GateRecord:
        """Record a gate (its report paths made relative to the run directory when inside it) and save."""
        with self._lock:
            gate.report_paths = [self._relative(p) for p in gate.report_paths]
            gate.checks = redact_tree(gate.checks)
            self.gates.append(gate)
            self.save()
            return gate

    def update(self, **changes: Any) -> None:
        """Set top-level fields (``status``, ``message``, ``failed_phase``, ``phases``, ...) and save."""
        allowed = {"status", "message", "failed_phase", "phases", "finished_at", "args", "cluster", "inventory",
                   "pair_now"}  # fmt: skip
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValueError(f"cannot update {', '.join(unknown)}")
        with self._lock:
            if "status" in changes:
                check_value(changes["status"], RUN_STATUSES, "run status")
            for key, value in changes.items():
                setattr(self, key, redact_tree(value) if key != "phases" else [str(p) for p in value])
            self.save()

    def finish(self, status: RunStatus, message: str = "", failed_phase: str | None = None) -> None:
        """End the run: status, message, finish time; steps still ``running`` become ``interrupted``. Saves."""
        check_value(status, RUN_STATUSES, "run status")
        with self._lock:
            for step in self.steps:
                if step.status == "running":
                    step.status = "interrupted"
                    started = self._clock.pop(id(step), None)
                    if started is not None:
                        step.duration_s = round(time.monotonic() - started, 3)
            self.status = status
            self.message = redact(message)
            if failed_phase is not None:
                self.failed_phase = failed_phase
            self.finished_at = now_iso()
            self.save()

    def _relative(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the run directory when it lies inside it, else absolute.

        A relative `path` is taken as relative to the run directory when it exists there, else to the
        current directory (as the gate runner writes them when the report root is relative).
        """
        p = Path(path)
        if self.run_dir is None:
            return os.fspath(p)
        if not p.is_absolute() and (self.run_dir / p).exists():
            return p.as_posix()
        resolved = p.resolve()
        try:
            return resolved.relative_to(self.run_dir.resolve()).as_posix()
        except ValueError:
            return os.fspath(resolved)

    # --- reading -------------------------------------------------------------------------------------

    def phase_names(self) -> list[str]:
        """The runbook's phases in order, then any phase only the records name."""
        names = list(self.phases)
        for phase in [*(g.phase for g in self.gates), *(s.phase for s in self.steps)]:
            if phase not in names:
                names.append(phase)
        return names

    def reached(self, phase: str) -> bool:
        """Whether anything of `phase` was recorded (a step or a gate)."""
        return any(s.phase == phase for s in self.steps) or any(g.phase == phase for g in self.gates)
