"""Runbooks are data: YAML rendered with Jinja2 from the inventory, validated once into `model`.

Validation names the file, the key and what was expected: every action and `when:` condition is
one of the registry's (`actions.py`), every gate's check ids are in the checks' catalogue, and a
runbook made of others (`include:`, as `failover` is made of `deactivate` and `activate`) gets
their phases, each rendered for the node the entry names.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from xcatha_verify.checkkit import PHASES, iter_checks
from xcatha_verify.errors import UsageError
from xcatha_verify.facts.conditions import CONDITIONS
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook_engine.actions import ACTIONS
from xcatha_verify.runbook_engine.model import Gate, Phase, Runbook, Step

# (runbook name, node name) -> that runbook's phases, rendered for that node.
Include = Callable[[str, str], tuple[Phase, ...]]


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


def load(path: Path, context: dict[str, Any], include: Include | None = None) -> Runbook:
    text = render(path, context)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"runbook {path} does not render to valid YAML: {str(exc).splitlines()[0]}") from None
    return _runbook(data, str(path), include)


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

    def include(other: str, node_name: str) -> tuple[Phase, ...]:
        return load_for(other, inventory, inventory.node(node_name), unplanned, extra_dirs).phases

    return load(find_runbook(name, extra_dirs), context(inventory, node, unplanned), include)


@cache
def _check_ids() -> frozenset[str]:
    return frozenset(c.id for c in iter_checks())


def _err(source: str, key: str, expected: str) -> UsageError:
    return UsageError(f"runbook {source}: {key}: {expected}")


def _ids(data: Any, source: str, key: str) -> tuple[str, ...]:
    ids = data or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _err(source, key, "expected a list of check ids")
    unknown = [i for i in ids if i not in _check_ids()]
    if unknown:
        raise _err(source, key, f"expected check ids from xcatha-verify --list; unknown: {', '.join(unknown)}")
    return tuple(ids)


def _gate(data: Any, source: str, key: str) -> Gate | None:
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("phase") not in PHASES:
        raise _err(source, key, f"expected a mapping with phase one of {', '.join(PHASES)}")
    return Gate(
        phase=data["phase"], checks=_ids(data.get("checks"), source, f"{key}.checks"),
        exclude=_ids(data.get("exclude"), source, f"{key}.exclude"),
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
    if "undo" in data:
        raise _err(source, f"{key}.undo", "expected no undo: an action's undo comes with the action (vip_up: vip_down)")
    when = data.get("when")
    if when is not None and when not in CONDITIONS:
        raise _err(source, f"{key}.when", f"expected one of {', '.join(CONDITIONS)}")
    shows = data.get("shows", "")
    if not isinstance(shows, str):
        raise _err(source, f"{key}.shows", "expected a string: the command an admin would type")
    undo = ACTIONS[action].undo if action else None
    return Step(
        name=data["name"], command=tuple(command or ()), action=action, args=dict(data.get("args") or {}),
        timeout_s=float(data.get("timeout", 120)), retries=int(data.get("retries", 0)),
        retry_delay_s=float(data.get("retry_delay", 3)), when=when, shows=shows,
        undo=Step(name=undo[0], action=undo[1]) if undo else None,
    )  # fmt: skip


def _phase(p: Any, source: str, key: str) -> Phase:
    if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("node"), str):
        raise _err(source, key, "expected a mapping with name and node")
    steps = p.get("steps") or []
    if not isinstance(steps, list):
        raise _err(source, f"{key}.steps", "expected a list")
    return Phase(
        name=p["name"], node=p["node"],
        steps=tuple(_step(s, source, f"{key}.steps[{j}]") for j, s in enumerate(steps)),
        gate_before=_gate(p.get("gate_before"), source, f"{key}.gate_before"),
        gate_after=_gate(p.get("gate_after"), source, f"{key}.gate_after"),
    )  # fmt: skip


def _included(entry: Any, source: str, key: str, include: Include | None) -> tuple[Phase, ...]:
    if not isinstance(entry, dict) or not isinstance(entry.get("runbook"), str) or not isinstance(
            entry.get("node"), str):  # fmt: skip
        raise _err(source, key, "expected a mapping with runbook and node")
    if include is None:
        raise _err(source, key, "expected no include here: load the runbook with an inventory (load_for)")
    prefix = entry.get("prefix", "")
    if not isinstance(prefix, str):
        raise _err(source, f"{key}.prefix", "expected a string put before each phase name")
    # A runbook included twice (failback deactivates both nodes) needs distinct phase names: the journal
    # and --resume know phases by name.
    return tuple(replace(p, name=prefix + p.name) for p in include(entry["runbook"], entry["node"]))


def _runbook(data: Any, source: str, include: Include | None = None) -> Runbook:
    if not isinstance(data, dict):
        raise _err(source, "phases", "expected a non-empty list of phases")
    phases: list[Phase] = []
    if "include" in data:
        if "phases" in data or not isinstance(data["include"], list) or not data["include"]:
            raise _err(source, "include", "expected a non-empty list of {runbook, node}, and no phases beside it")
        for i, entry in enumerate(data["include"]):
            phases += _included(entry, source, f"include[{i}]", include)
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise _err(source, "include", "expected distinct phase names: give a runbook included twice a prefix")
    elif isinstance(data.get("phases"), list) and data["phases"]:
        phases = [_phase(p, source, f"phases[{i}]") for i, p in enumerate(data["phases"])]
    else:
        raise _err(source, "phases", "expected a non-empty list of phases")
    return Runbook(str(data.get("name", Path(source).stem)), str(data.get("summary", "")), tuple(phases), source)
