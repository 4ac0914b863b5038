"""What a runbook is, as plain data: phases of steps between gates. `loading.py` makes one from YAML.

A runbook is phases; a phase runs on one node and is a gate before, steps, and a gate after. A
step is a command (an argv list, quoted when it reaches a shell) or a built-in action (the
registry in `actions.py`), with a timeout, retries and an optional condition evaluated on the
node at run time.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from xcatha_verify.facts.conditions import Condition


@dataclass(frozen=True)
class Gate:
    phase: str
    checks: tuple[str, ...] = ()  # only these ids (else the phase's checks)
    exclude: tuple[str, ...] = ()
    retry_timeout_s: float = 0  # re-run until green or this many seconds passed (things that settle)
    advisory: bool = False  # reported, never stops the run

    def describe(self) -> str:
        what = ", ".join(self.checks) if self.checks else f"{self.phase} checks"
        return what + (f" except {', '.join(self.exclude)}" if self.exclude else "")


@dataclass(frozen=True)
class Step:
    name: str
    command: tuple[str, ...] = ()
    action: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 120
    retries: int = 0
    retry_delay_s: float = 3
    when: Condition | None = None
    shows: str = ""  # the command an admin would type for what a shell wrapper does (the prompt, --dry-run)
    undo: Step | None = None  # run when the phase fails after this step succeeded (from the action's registry entry)

    def describe(self) -> str:
        return shlex.join(self.command) if self.command else f"[{self.action}] {self.args or ''}".strip()


@dataclass(frozen=True)
class StepOutcome:
    """How one attempt of a step ended on its node: exit status and what it printed."""

    rc: int
    output: str
    ssh_failed: bool = False  # ssh itself failed (exit 255 from ssh, not from the command): is the node there?


@dataclass(frozen=True)
class Phase:
    name: str
    node: str
    steps: tuple[Step, ...]
    gate_before: Gate | None = None
    gate_after: Gate | None = None


@dataclass(frozen=True)
class Runbook:
    name: str
    summary: str
    phases: tuple[Phase, ...]
    source: str
