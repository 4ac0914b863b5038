"""What a check is: a pytest function over testinfra's ``host`` with a stable id and its phases.

Checks live in ``checks/`` (shipped as ``xcatha_verify.checks``), one module per concern. Each is
declared with :func:`check`, which records its id, phases and the fix to print on failure as a
pytest mark; the plugin selects a phase's checks by that mark, and ``--list`` reads the same
marks without touching any node.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

# pytest.skip.Exception is this class; imported by name so that a type checker knows it as a base.
from _pytest.outcomes import Skipped

from xcatha_verify.errors import UsageError

if TYPE_CHECKING:
    from xcatha_verify.facts.node import NodeFacts
    from xcatha_verify.inventory import Inventory

PHASES = ("pre-deactivate", "post-deactivate", "pre-activate", "post-activate", "active", "standby", "drift")
PHASE_SUMMARIES = {
    "pre-deactivate": "the active node before it is deactivated: whole, so what it hands over is sound",
    "post-deactivate": "the old active node after its deactivation: nothing of xCAT runs, VIP and shared data gone",
    "pre-activate": "the standby before activation: the VIP free, the peer let go of everything, the clocks agree",
    "post-activate": "the new active node after activation: VIP, shared data, PostgreSQL, xcatd and services serve",
    "active": "the active node in steady state",
    "standby": "the standby in steady state: passive, and nothing of it starts at boot",
    "drift": "both nodes, each against its role (the VIP holder as active), and the pair checks; kept as history",
}
MARK = "xcatha_check"
# A check is a function named check_* in a module of checks/ (pytest is told: python_functions).
CHECK_PREFIX = "check_"
# A node holding the role: before it is deactivated, after it is activated, and at rest.
ACTIVE = ("pre-deactivate", "post-activate", "active")
# A node without the role: after deactivation, before activation, and at rest.
STANDBY = ("post-deactivate", "pre-activate", "standby")

# What a check `needs` (see check()): checks that read files on the shared data, or read the database.
ON_SHARED_DATA = ("shared.connected", "shared.identity")
FROM_THE_DATABASE = ("pg.accepting",)

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class CheckInfo:
    id: str
    phases: tuple[str, ...]
    pair: bool
    summary: str
    module: str
    function: str
    needs: tuple[str, ...] = ()


def check(
    check_id: str, *, phases: tuple[str, ...] | list[str], pair: bool = False,
    reads: Callable[[NodeFacts], None] | None = None, needs: tuple[str, ...] = (),
) -> Callable[[F], F]:  # fmt: skip
    """Declare a check: ``@check("vip.present", phases=("active", "post-activate"))``.

    A pair check (``pair=True``) looks at both nodes; in the drift phase it runs once per pair.
    `reads` starts the check's slower commands when the run begins (``facts.start(...)``), so that
    they run beside everything else; the check reads them as usual and gets the started result.
    `needs` names checks whose failure leaves this one unable to judge: when one of them runs in the
    same run and does not pass, this check is not run but reported blocked by it (they run first).
    """
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"check {check_id}: unknown phases {unknown}; known: {PHASES}")

    def mark(func: F) -> F:
        marker = pytest.mark.xcatha_check(id=check_id, phases=tuple(phases), pair=pair, reads=reads,
                                          needs=tuple(needs))  # fmt: skip
        return marker(func)

    return mark


def check_phase(phase: str) -> str:
    if phase not in PHASES:
        close = difflib.get_close_matches(phase, PHASES, n=1)
        raise UsageError(f"unknown phase {phase!r}" + (f"; did you mean {close[0]}?" if close else "")
                         + f" (phases: {', '.join(PHASES)})")  # fmt: skip
    return phase


def iter_checks() -> Iterator[CheckInfo]:
    """Every declared check, in module then definition order (imports the modules, runs nothing)."""
    package = importlib.import_module("xcatha_verify.checks")
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        functions = [obj for name, obj in vars(module).items() if name.startswith(CHECK_PREFIX) and callable(obj)]
        for func in sorted(functions, key=lambda f: f.__code__.co_firstlineno):
            for mark in getattr(func, "pytestmark", []):
                if mark.name == MARK:
                    doc = (func.__doc__ or "").strip().splitlines()
                    yield CheckInfo(
                        mark.kwargs["id"], mark.kwargs["phases"], mark.kwargs.get("pair", False),
                        doc[0] if doc else "", module.__name__, func.__name__, mark.kwargs.get("needs", ()),
                    )  # fmt: skip


def selected(phases: tuple[str, ...], pair: bool, phase: str, role: str | None, with_pair: bool) -> bool:
    """Whether a check with these marks runs: by phase, or in drift by the node's role plus the pair checks."""
    if phase != "drift":
        return phase in phases
    if pair:
        return with_pair and "drift" in phases
    return role in phases


def checks_for(phase: str) -> list[CheckInfo]:
    return [c for c in iter_checks() if check_phase(phase) in c.phases]


def checks_dir() -> str:
    package = importlib.import_module("xcatha_verify.checks")
    return str(next(iter(package.__path__)))


class CheckFailed(AssertionError):
    """A check's verdict: what was observed, what was expected, and the command that fixes it."""

    def __init__(self, observed: str, expected: str, fix: str) -> None:
        self.observed = observed
        self.expected = expected
        self.fix = fix
        super().__init__(f"observed: {observed}\nexpected: {expected}\nfix: {fix}")


class CheckBlocked(Skipped):
    """No verdict: something the check depends on is broken (`by`: that check's id, or "<node> unreachable").

    A kind of pytest skip, so pytest and its reports treat it as a check that did not run; the
    recorder reports it with the outcome ``blocked``.
    """

    def __init__(self, by: str, why: str) -> None:
        self.by = by
        self.why = why
        super().__init__(f"blocked by {by}: {why}")


def blocked(*, by: str, why: str) -> NoReturn:
    """Stop the running check without a verdict: it cannot judge because `by` is broken (`why`)."""
    raise CheckBlocked(by, why)


def postgresql_only(inventory: Inventory) -> None:
    """For a check that knows PostgreSQL alone: on another database it says it cannot judge (skipped, never passed)."""
    if inventory.database.type != "postgresql":
        pytest.skip(f"cannot judge: a PostgreSQL check, and this pair's database is {inventory.database.type} "
                    "(xcatha-verify does not read its configuration)")  # fmt: skip


def fail(*, observed: str, expected: str, fix: str) -> NoReturn:
    """Fail the running check with what was observed, what was expected and the command that fixes it."""
    raise CheckFailed(observed, expected, fix)


def verdict(ok: bool, *, observed: str, expected: str, fix: str) -> None:
    """Fail the running check with observed/expected/fix unless `ok`.

    A pass with nothing noted notes `expected`: it is what the check found true, so the report shows
    an observed value for every passed check. Not `observed`, which is often worded for the failure.
    """
    if not ok:
        fail(observed=observed, expected=expected, fix=fix)
    if not _notes and expected.strip():
        note(expected)


# What the running check saw that its report shows when it passes (one check runs at a time per process).
_notes: list[str] = []


def note(text: str) -> None:
    """Say what the running check saw, for the report of a check that passes (its observed value)."""
    _notes.append(text)


def take_notes() -> str:
    """The running check's notes, joined; they are forgotten (the next check starts with none)."""
    taken = "; ".join(_notes)
    _notes.clear()
    return taken


def phase_table() -> str:
    """The README's phase x check table (Markdown), generated from the checks themselves."""
    head = "| check | " + " | ".join(PHASES) + " |"
    rows = [head, "|" + " --- |" * (len(PHASES) + 1)]
    for info in iter_checks():
        cells = []
        for phase in PHASES:
            if phase == "drift" and not info.pair:
                cell = "by role" if {"active", "standby"} & set(info.phases) else ""
            else:
                cell = "x" if phase in info.phases else ""
            cells.append(cell)
        name = f"`{info.id}`" + (" (pair)" if info.pair else "")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
