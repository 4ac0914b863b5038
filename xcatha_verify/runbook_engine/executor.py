"""The executor: walks a runbook's phases, gate before, steps, gate after; stops on red.

It knows nothing of HTML: it records into the journal, which the run report renders. A red gate
or a failed step stops the run (exit 1) with the failing checks and their fixes printed; the
journal says where to resume. Ctrl-C finishes recording the current step and exits 130.

Asking (a terminal): the phase's gate before runs first and shows its result, then the phase's steps
as an admin would type them, then `[y/N/d]`, where Enter is No. A dry run judges only the gates
before the first phase that changes anything (they read the nodes as they are); every later gate
depends on what the phases before it would have done and is shown as "would check".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testinfra.host import Host

from xcatha_verify.errors import NodeUnreachable, XcathaError
from xcatha_verify.facts.conditions import condition_holds
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook_engine import actions
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.journal_records import GateRecord, GateStatus, GateWhen, StepStatus, now_iso
from xcatha_verify.runbook_engine.model import Gate, Phase, Runbook, Step, StepOutcome
from xcatha_verify.runner import NodeRun, run_checks, warm_up_in_background
from xcatha_verify.targets import ensure_reachable, forget_answer

log = logging.getLogger(__name__)
GATE_POLL_S = 0.5  # a gate with a retry timeout runs again this often until it passes or time is up
PROGRESS_EVERY_S = 5.0  # a step or gate still going says so this often
ANSWERS = "y runs the phase, n or Enter stops the run here (nothing more is changed), d shows its commands"


class RunStopped(XcathaError):
    """The run stopped on red: a gate failed or a step failed (exit status 1)."""


class RunDeclined(XcathaError):
    """The operator answered No (exit status 1)."""


@dataclass
class Options:
    dry_run: bool = False
    interactive: bool = False
    echo: Callable[[str], None] = print
    ask: Callable[[str], str] = input
    # False: steps only, no gate (the lab's own set-up, whose result an independent observer judges).
    gates: bool = True
    progress_every_s: float = PROGRESS_EVERY_S


class _StillRunning:
    """Says `label: running, N s` every `every` seconds until the block ends (long steps are not silent)."""

    def __init__(self, echo: Callable[[str], None], label: str, every: float) -> None:
        self.echo, self.label, self.every = echo, label, every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def _tick(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.every):
            self.echo(f"   .. {self.label}: running, {time.monotonic() - started:.0f} s")

    def __enter__(self) -> _StillRunning:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class Executor:
    def __init__(
        self, runbook: Runbook, inventory: Inventory, journal: Journal, run_dir: Path, options: Options
    ) -> None:
        self.runbook = runbook
        self.inventory = inventory
        self.journal = journal
        self.run_dir = run_dir
        self.opts = options
        self._facts: tuple[Phase, NodeFacts] | None = None
        self.current_phase: str | None = None  # the phase under way (or asked about) when the run stops
        self.dry_run_red: list[str] = []  # gates a dry run judged red (not advisory): the dry run exits 1

    # ------------------------------------------------------------------ the walk
    def run(self, skip_phases: set[str] | None = None, resuming: bool = False) -> None:
        """Walk the phases, those in `skip_phases` aside. `resuming`: the first phase walked is where a run
        stopped; what its steps may have done that has an undo (a VIP up) is taken back first, as the
        stopped run would have, had it reached the node (it was lost, or the run was killed)."""
        if self.opts.gates and not self.opts.dry_run:
            warm_up_in_background()
        changed_before = False  # a phase with steps came earlier in this walk (what a dry run cannot judge)
        for phase in self.runbook.phases:
            if skip_phases and phase.name in skip_phases:
                self.opts.echo(f"-- {phase.name}: done in the run being resumed, skipped")
                continue
            if resuming and not self.opts.dry_run:
                resuming = False
                self.current_phase = phase.name
                self._undo(phase, list(phase.steps))
            self._run_phase(phase, judge_before=not (self.opts.dry_run and changed_before))
            changed_before = changed_before or bool(phase.steps)
        self.current_phase = None

    def _run_phase(self, phase: Phase, judge_before: bool = True) -> None:
        node = self.inventory.node(phase.node)
        self.current_phase = phase.name
        self.opts.echo(f"\n== phase {phase.name!r} on {node.name}")
        if phase.gate_before and self.opts.gates:
            if judge_before:
                self._gate(phase, phase.gate_before, "before")
            else:
                self._would_check(phase, phase.gate_before, "before")
        if self.opts.interactive and not self._confirm(phase):
            raise RunDeclined(f"stopped before phase {phase.name!r} on {node.name}: the operator answered No")
        done: list[Step] = []
        try:
            for index, step in enumerate(phase.steps):
                # Counted before it runs: a step interrupted or failed half-way (a VIP added just before
                # Ctrl-C) is taken back too; undos are idempotent, so one with nothing to undo is a no-op.
                done.append(step)
                if not self._step(phase, index, step):
                    done.pop()
            if phase.gate_after and self.opts.gates:
                if self.opts.dry_run:
                    self._would_check(phase, phase.gate_after, "after")
                else:
                    self._gate(phase, phase.gate_after, "after")
        except BaseException:
            self._undo(phase, done)
            raise

    def _confirm(self, phase: Phase) -> bool:
        """Ask before the phase: Enter is No; an answer that is none of y/n/d says which exist."""
        self.opts.echo(self.describe_phase(phase))
        question = f"Run phase {phase.name!r} on {phase.node} now? [y/N/d] "
        while True:
            answer = self.opts.ask(question).strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False
            if answer in ("d", "dryrun", "dry-run"):
                node = self.inventory.node(phase.node)
                for step in phase.steps:
                    self.opts.echo(f"   would run on {node.name}: {actions.admin_command(step, self.inventory, node)}")
                continue
            self.opts.echo(f"   {answer!r} is not an answer here: {ANSWERS}")

    def describe_phase(self, phase: Phase) -> str:
        """The phase as the operator approves it: its steps as commands, and the gate that follows."""
        node = self.inventory.node(phase.node)
        lines = [f"[{self.runbook.name}] phase {phase.name!r} on {phase.node}, {len(phase.steps)} step(s):"]
        for number, step in enumerate(phase.steps, 1):
            when = f"   (when {step.when})" if step.when else ""
            lines.append(f"   {number}. {actions.admin_command(step, self.inventory, node)}{when}")
        if phase.gate_after:
            lines.append(f"   then gate: {phase.gate_after.describe()}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ steps
    def _step(self, phase: Phase, index: int, step: Step) -> bool:
        """Run one step (with its retries); True when it ran and succeeded, False when skipped."""
        node = self.inventory.node(phase.node)
        command = actions.step_command(step, self.inventory, node)
        record = self.journal.start_step(phase.name, step.name, node.name, command, index=index + 1)
        action = actions.action_of(step)
        if self.opts.dry_run and action is not None and action.dry_run_reads:
            # Reading is allowed in a dry run: show the very diff the edit would apply.
            outcome = actions.run_step(ensure_reachable(self.inventory, node), step, self.inventory, node, True)
            self.journal.finish_step(record, "dry-run", outcome.rc, outcome.output, 0.0, attempts=0)
            self.opts.echo(f"   DRY-RUN {step.name}:\n" + _indent(outcome.output))
            return False
        if self.opts.dry_run:
            self.journal.finish_step(record, "dry-run", None, "", 0.0, attempts=0)
            self.opts.echo(f"   DRY-RUN {step.name}: {actions.admin_command(step, self.inventory, node)}")
            return False
        started = time.monotonic()
        try:
            host = ensure_reachable(self.inventory, node)
            if step.when:
                try:
                    holds, why = condition_holds(self._phase_facts(host, phase, node), step.when)
                except FactError as exc:
                    self.journal.finish_step(record, "failed", None, str(exc), time.monotonic() - started)
                    raise RunStopped(f"phase {phase.name!r}, step {step.name!r}: when {step.when}: {exc}") from None
                if not holds:
                    self.journal.finish_step(record, "skipped", None, why, time.monotonic() - started)
                    self.opts.echo(f"   SKIP {step.name} ({why})")
                    return False
            outcome = StepOutcome(1, "")
            self.opts.echo(f"   .. {step.name}: {actions.admin_command(step, self.inventory, node)}")
            with _StillRunning(self.opts.echo, step.name, self.opts.progress_every_s):
                for attempt in range(step.retries + 1):
                    record.attempts = attempt + 1
                    outcome = actions.run_step(host, step, self.inventory, node)
                    if outcome.rc == 0:
                        break
                    if outcome.ssh_failed and (lost := self._lost(node)):
                        # A node that no longer answers stops the run now, with ssh's own reason, not
                        # after the step's retries; one that answers gets them.
                        raise NodeUnreachable(lost)
                    if attempt < step.retries:
                        said = " | ".join(outcome.output.strip().splitlines()[-3:])
                        self.opts.echo(f"   retry {attempt + 1}/{step.retries} {step.name}: exit {outcome.rc}"
                                       + (f": {said}" if said else ""))  # fmt: skip
                        time.sleep(step.retry_delay_s)
        except KeyboardInterrupt:
            self.journal.finish_step(record, "interrupted", None, "interrupted by Ctrl-C", time.monotonic() - started)
            raise
        except NodeUnreachable as exc:
            self.journal.finish_step(record, "failed", 255, str(exc), time.monotonic() - started)
            raise RunStopped(f"phase {phase.name!r}, step {step.name!r}: {exc}") from None
        duration = time.monotonic() - started
        status: StepStatus = "ok" if outcome.rc == 0 else "failed"
        self.journal.finish_step(record, status, outcome.rc, outcome.output, duration)
        log.info("step %s/%s on %s: %s -> exit %s in %.1fs (%d attempts)\n%s", phase.name, step.name, node.name,
                 command, outcome.rc, duration, record.attempts, "\n".join(outcome.output.splitlines()[-20:]))
        self.opts.echo(f"   {'OK  ' if status == 'ok' else 'FAIL'} {step.name} ({duration:.1f}s)")
        if action is not None and action.dry_run_reads and outcome.output:  # an edit shows its diff
            self.opts.echo(_indent(outcome.output))
        if status == "failed":
            tail = outcome.output.strip().splitlines()[-5:]
            raise RunStopped(
                f"phase {phase.name!r}, step {step.name!r} failed (exit {outcome.rc}): {' | '.join(tail)}"
            )
        return True

    def _phase_facts(self, host: Host, phase: Phase, node: Node) -> NodeFacts:
        """The facts `when:` conditions read, one set per phase: the site table is read once, not per step."""
        if self._facts is None or self._facts[0] is not phase:
            self._facts = (phase, NodeFacts(host, node, self.inventory))
        return self._facts[1]

    def _undo(self, phase: Phase, done: list[Step]) -> None:
        """Take back what this phase did that has an undo (no half-added VIP), newest first."""
        for step in reversed(done):
            if step.undo is None or self.opts.dry_run:
                continue
            self.opts.echo(f"   UNDO {step.undo.name}")
            try:
                self._step(phase, len(phase.steps), step.undo)
            except (RunStopped, NodeUnreachable) as exc:
                self.opts.echo(f"   undo failed: {exc}")

    # ------------------------------------------------------------------ gates
    def _gate(self, phase: Phase, gate: Gate, when: GateWhen) -> None:
        node = self.inventory.node(phase.node)
        run = NodeRun(node, gate.phase, only=gate.checks, exclude=gate.exclude)
        deadline = time.monotonic() + gate.retry_timeout_s
        started, started_at = time.monotonic(), now_iso()  # when it began: the timeline places it from there
        gate_dir = self.run_dir / "gates"
        said_at = started
        while True:
            result = run_checks(self.inventory, run, gate_dir, ("html", "json"), echo=False)
            failing = result.summary.not_ready
            lost = result.unreachable or (self._lost(node) if failing and not self.opts.dry_run else "")
            # A node that cannot be reached is not waited for: the run stops and says so at once.
            if not failing or lost or self.opts.dry_run or time.monotonic() >= deadline:
                break
            if time.monotonic() - said_at >= min(2.0, self.opts.progress_every_s):
                said_at = time.monotonic()
                waiting = ", ".join(f.check_id for f in failing[:3]) or f"{node.name} to answer"
                self.opts.echo(f"   waiting for {waiting}, {said_at - started:.0f} s of {gate.retry_timeout_s:.0f} s")
            time.sleep(GATE_POLL_S)  # things that settle: a database starting, a daemon binding its port
        red = bool(failing or lost)
        status: GateStatus = "passed" if not red else ("advisory-failed" if gate.advisory else "failed")
        self.journal.add_gate(GateRecord(
            phase=phase.name, when=when, node=node.name, checks=list(gate.checks) or [gate.phase], status=status,
            failing=failing, report_paths=[str(p) for p in result.reports if p.suffix == ".html"],
            started_at=started_at, duration_s=round(time.monotonic() - started, 3),
            unreachable=lost,
        ))  # fmt: skip
        label = {"passed": "GREEN", "failed": "RED", "advisory-failed": "AMBER"}[status]
        names = [f.check_id for f in failing] or ([f"{node.name} unreachable"] if lost else [])
        log.info("gate %s %s on %s (%s): %s %s", when, phase.name, node.name, gate.describe(), label, ", ".join(names))
        self.opts.echo(f"   gate {when} {phase.name}: {label} ({gate.describe()})")
        if lost:
            self.opts.echo(f"     {node.name} unreachable: {lost}\n       fix: check ssh to {node.name}")
        for f in failing:
            if f.outcome == "blocked":
                self.opts.echo(f"     {f.check_id}: blocked by {f.blocked_by}: {f.message}")
            else:
                self.opts.echo(f"     {f.check_id}: {f.observed or f.message}\n       fix: {f.fix}")
        if red and not gate.advisory and self.opts.dry_run:
            self.dry_run_red.append(f"gate {when} phase {phase.name!r}: " + ", ".join(names))
        if red and not gate.advisory and not self.opts.dry_run:
            if lost:  # the node and ssh's reason, in the one line the run ends with
                raise RunStopped(f"gate {when} phase {phase.name!r}: {lost}")
            raise RunStopped(f"gate {when} phase {phase.name!r} is red: " + ", ".join(names))

    def _lost(self, node: Node) -> str:
        """Why `node` cannot be reached now, asked afresh; "" when it answers. Checks that failed because
        their node went away mid-run are a lost node, not a red check."""
        forget_answer(self.inventory, node)
        try:
            ensure_reachable(self.inventory, node)
        except NodeUnreachable as exc:
            return str(exc)
        return ""

    def _would_check(self, phase: Phase, gate: Gate, when: GateWhen) -> None:
        """A dry run's gate that depends on phases it did not run: named, not judged."""
        why = "what this phase would do" if when == "after" else "what the phases before it would do"
        self.opts.echo(f"   gate {when} {phase.name}: would check {gate.describe()} "
                       f"(not judged now: it depends on {why})")  # fmt: skip


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())
