"""Runbooks are data: YAML rendered with Jinja2 from the inventory, then validated into this model.

A runbook is phases; a phase runs on one node and is a gate before, steps, and a gate after. A
step is a command (an argv list, quoted when it reaches a shell) or a built-in action, with a
timeout, retries and an optional condition evaluated on the node at run time.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from xcatha_verify.checkkit import PHASES
from xcatha_verify.errors import UsageError
from xcatha_verify.inventory import Inventory, Node

ACTIONS = (
    "vip_up", "vip_down", "record_storage_id",
    "prepare_pg_listen", "prepare_pg_hba", "prepare_hosts", "prepare_mgtifname", "prepare_site_master",
    "prepare_policy",
)  # fmt: skip
CONDITIONS = ("site_domain", "console_server:conserver", "console_server:goconserver")


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
    when: str | None = None
    undo: Step | None = None  # run when the phase fails after this step succeeded

    def describe(self) -> str:
        import shlex

        return shlex.join(self.command) if self.command else f"[{self.action}] {self.args or ''}".strip()


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


def runbook_dirs(extra: list[str] | None = None) -> list[Path]:
    """Where runbooks are found: site directories first, then the shipped ones."""
    shipped = Path(str(importlib.resources.files("xcatha_verify.runbooks")))
    return [*(Path(d) for d in extra or []), shipped]


def find_runbook(name: str, extra: list[str] | None = None) -> Path:
    for directory in runbook_dirs(extra):
        candidate = directory / f"{name}.yml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in runbook_dirs(extra) if d.is_dir() for p in d.glob("*.yml")})
    raise UsageError(f"no runbook {name!r}; known: {', '.join(known)}")


def render(path: Path, context: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=True,  # noqa: S701 - renders YAML, values go through tojson
    )  # fmt: skip
    try:
        return env.get_template(path.name).render(**context)
    except jinja2.TemplateError as exc:
        raise UsageError(f"runbook {path}: {exc}") from None


def load(path: Path, context: dict[str, Any]) -> Runbook:
    text = render(path, context)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"runbook {path} does not render to valid YAML: {str(exc).splitlines()[0]}") from None
    return _runbook(data, str(path))


def context(inventory: Inventory, node: Node, unplanned: bool) -> dict[str, Any]:
    """What a runbook template is rendered with: the inventory's values for this node."""
    return {
        "node": node, "peer": inventory.peer_of(node.name), "vip": inventory.vip, "services": inventory.services,
        "shared_data": inventory.shared_data, "database_unit": inventory.database_service.unit,
        "xcatd_unit": inventory.xcatd_unit, "unplanned": unplanned, "cluster": inventory.cluster,
        "vip_hostname": inventory.vip_hostname, "vip_nameserver": inventory.vip_nameserver,
    }  # fmt: skip


def load_for(
    name: str, inventory: Inventory, node: Node, unplanned: bool = False, extra_dirs: list[str] | None = None
) -> Runbook:
    """The runbook `name` (site directories first) rendered for `node` of `inventory`."""
    return load(find_runbook(name, extra_dirs), context(inventory, node, unplanned))


def _err(source: str, key: str, expected: str) -> UsageError:
    return UsageError(f"runbook {source}: {key}: {expected}")


def _gate(data: Any, source: str, key: str) -> Gate | None:
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("phase") not in PHASES:
        raise _err(source, key, f"expected a mapping with phase one of {', '.join(PHASES)}")
    return Gate(
        phase=data["phase"], checks=tuple(data.get("checks") or ()), exclude=tuple(data.get("exclude") or ()),
        retry_timeout_s=float(data.get("retry_timeout", 0)), advisory=bool(data.get("advisory", False)),
    )  # fmt: skip


def _step(data: Any, source: str, key: str) -> Step:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise _err(source, key, "expected a mapping with a name")
    command, action = data.get("command"), data.get("action")
    if (command is None) == (action is None):
        raise _err(source, key, "expected exactly one of command (an argv list) or action")
    if command is not None and (not isinstance(command, list) or not all(isinstance(a, str) for a in command)):
        raise _err(source, f"{key}.command", "expected a list of strings (never a shell string)")
    if action is not None and action not in ACTIONS:
        raise _err(source, f"{key}.action", f"expected one of {', '.join(ACTIONS)}")
    when = data.get("when")
    if when is not None and when not in CONDITIONS:
        raise _err(source, f"{key}.when", f"expected one of {', '.join(CONDITIONS)}")
    return Step(
        name=data["name"], command=tuple(command or ()), action=action, args=dict(data.get("args") or {}),
        timeout_s=float(data.get("timeout", 120)), retries=int(data.get("retries", 0)),
        retry_delay_s=float(data.get("retry_delay", 3)), when=when,
        undo=_step(data["undo"], source, f"{key}.undo") if data.get("undo") else None,
    )  # fmt: skip


def _runbook(data: Any, source: str) -> Runbook:
    if not isinstance(data, dict) or not isinstance(data.get("phases"), list) or not data["phases"]:
        raise _err(source, "phases", "expected a non-empty list of phases")
    phases = []
    for i, p in enumerate(data["phases"]):
        key = f"phases[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("node"), str):
            raise _err(source, key, "expected a mapping with name and node")
        steps = p.get("steps") or []
        if not isinstance(steps, list):
            raise _err(source, f"{key}.steps", "expected a list")
        phases.append(Phase(
            name=p["name"], node=p["node"],
            steps=tuple(_step(s, source, f"{key}.steps[{j}]") for j, s in enumerate(steps)),
            gate_before=_gate(p.get("gate_before"), source, f"{key}.gate_before"),
            gate_after=_gate(p.get("gate_after"), source, f"{key}.gate_after"),
        ))  # fmt: skip
    return Runbook(str(data.get("name", Path(source).stem)), str(data.get("summary", "")), tuple(phases), source)
