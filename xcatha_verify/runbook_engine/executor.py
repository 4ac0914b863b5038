"""The executor: walks a runbook's phases, gate before, steps, gate after; stops on red.

It knows nothing of HTML: it records into the journal, which the run report renders. A red gate
or a failed step stops the run (exit 1) with the failing checks and their fixes printed; the
journal says where to resume. Ctrl-C finishes recording the current step and exits 130.
"""

from __future__ import annotations

import logging
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
from xcatha_verify.runbook_engine.journal_records import GateRecord, GateStatus, GateWhen, StepStatus
from xcatha_verify.runbook_engine.model import Gate, Phase, Runbook, Step, StepOutcome
from xcatha_verify.runner import NodeRun, run_checks, warm_up_in_background
from xcatha_verify.targets import ensure_reachable

log = logging.getLogger(__name__)
GATE_POLL_S = 0.5  # a gate with a retry timeout runs again this often until it passes or time is up


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

    # ------------------------------------------------------------------ the walk
    def run(self, skip_phases: set[str] | None = None) -> None:
        if self.opts.gates and not self.opts.dry_run:
            warm_up_in_background()
        for phase in self.runbook.phases:
            if skip_phases and phase.name in skip_phases:
                self.opts.echo(f"-- {phase.name}: done in the run being resumed, skipped")
                continue
            self._run_phase(phase)

    def _run_phase(self, phase: Phase) -> None:
        node = self.inventory.node(phase.node)
        self.opts.echo(f"\n== phase {phase.name!r} on {node.name}")
        if self.opts.interactive and not self._confirm(phase):
            raise RunDeclined(f"stopped before phase {phase.name!r}: the operator answered No")
        if phase.gate_before and self.opts.gates:
            self._gate(phase, phase.gate_before, "before")
        done: list[Step] = []
        try:
            for index, step in enumerate(phase.steps):
                # Counted before it runs: a step interrupted or failed half-way (a VIP added just before
                # Ctrl-C) is taken back too; undos are idempotent, so one with nothing to undo is a no-op.
                done.append(step)
                if not self._step(phase, index, step):
                    done.pop()
            if phase.gate_after and self.opts.gates:
                self._gate(phase, phase.gate_after, "after")
        except BaseException:
            self._undo(phase, done)
            raise

    def _confirm(self, phase: Phase) -> bool:
        while True:
            self.opts.echo(self.describe_phase(phase))
            answer = self.opts.ask("Continue? [Y]es/[N]o/[D]ryrun: ").strip().lower()
            if answer in ("y", "yes", ""):
                return True
            if answer in ("n", "no"):
                return False
            if answer in ("d", "dryrun", "dry-run"):
                node = self.inventory.node(phase.node)
                for step in phase.steps:
                    self.opts.echo(f"   would run on {node.name}: {actions.step_command(step, self.inventory, node)}")

    def describe_phase(self, phase: Phase) -> str:
        lines = [f"[{self.runbook.name}] {phase.name} on {phase.node}:"]
        if phase.gate_before:
            lines.append(f"   gate: {phase.gate_before.describe()}")
        lines += [f"   ... {s.name}" + (f" (when {s.when})" if s.when else "") for s in phase.steps]
        if phase.gate_after:
            lines.append(f"   gate: {phase.gate_after.describe()}")
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
            self.opts.echo(f"   DRY-RUN {step.name}: {command}")
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
            for attempt in range(step.retries + 1):
                record.attempts = attempt + 1
                outcome = actions.run_step(host, step, self.inventory, node)
                if outcome.rc == 0:
                    break
                if attempt < step.retries:
                    self.opts.echo(f"   retry {attempt + 1}/{step.retries} {step.name}: exit {outcome.rc}")
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
        started = time.monotonic()
        gate_dir = self.run_dir / "gates"
        while True:
            result = run_checks(self.inventory, run, gate_dir, ("html", "json"), echo=False)
            failing = result.summary.not_ready
            if not (failing or result.unreachable) or self.opts.dry_run or time.monotonic() >= deadline:
                break
            time.sleep(GATE_POLL_S)  # things that settle: a database starting, a daemon binding its port
        red = bool(failing or result.unreachable)
        status: GateStatus = "passed" if not red else ("advisory-failed" if gate.advisory else "failed")
        self.journal.add_gate(GateRecord(
            phase=phase.name, when=when, node=node.name, checks=list(gate.checks) or [gate.phase], status=status,
            failing=failing, report_paths=[str(p) for p in result.reports if p.suffix == ".html"],
            started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), duration_s=time.monotonic() - started,
            unreachable=result.unreachable,
        ))  # fmt: skip
        label = {"passed": "GREEN", "failed": "RED", "advisory-failed": "AMBER"}[status]
        names = [f.check_id for f in failing] or ([f"{node.name} unreachable"] if result.unreachable else [])
        log.info("gate %s %s on %s (%s): %s %s", when, phase.name, node.name, gate.describe(), label, ", ".join(names))
        self.opts.echo(f"   gate {when} {phase.name}: {label} ({gate.describe()})")
        if result.unreachable:
            self.opts.echo(f"     {node.name} unreachable: {result.unreachable}\n       fix: check ssh to {node.name}")
        for f in failing:
            if f.outcome == "blocked":
                self.opts.echo(f"     {f.check_id}: blocked by {f.blocked_by}: {f.message}")
            else:
                self.opts.echo(f"     {f.check_id}: {f.observed or f.message}\n       fix: {f.fix}")
        if red and not gate.advisory and not self.opts.dry_run:
            raise RunStopped(f"gate {when} phase {phase.name!r} is red: " + ", ".join(names))


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())
