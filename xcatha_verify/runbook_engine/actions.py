"""The one registry of what a runbook step can be besides a command (its `when:` conditions are
facts/conditions.py's, shared with the checks).

An :class:`Action` says how it runs on a node, the command line it shows (the journal, `--dry-run`,
the operator's prompt), whether a dry run may read the node to show the change it would make
(`prepare_*` show their very diff), and what takes it back when its phase fails (today one:
`vip_up`, undone by `vip_down`). The runbook loader validates names against this registry and
attaches the undo; the executor dispatches through it. A command step (an argv list) runs the
same way as an action's argv: every word quoted, under `timeout`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from testinfra.host import Host

from xcatha_verify.errors import ssh_reason
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.nodepaths import STORAGE_RECORD, node_python, storage_id_path
from xcatha_verify.runbook_engine import prepare
from xcatha_verify.runbook_engine.model import Step, StepOutcome
from xcatha_verify.storage import mount_points

Argv = Callable[[Inventory, Node], list[str]]
Edit = Callable[[Host, Inventory, Node, bool], StepOutcome]  # (host, inventory, node, dry_run)


@dataclass(frozen=True)
class Action:
    name: str
    argv: Argv | None = None  # runs this on the node under the step's timeout ...
    edit: Edit | None = None  # ... or computes and applies an edit (a dry run reads, shows, writes nothing)
    undo: tuple[str, str] | None = None  # (step name, action) that takes it back

    @property
    def dry_run_reads(self) -> bool:
        return self.edit is not None


def _vip_up(inventory: Inventory, node: Node) -> list[str]:
    vip = inventory.vip
    return [node_python(), "-m", "xcatha_verify.vip", "up", str(vip.address), str(vip.prefix), vip.interface, vip.label]


def _vip_down(inventory: Inventory, node: Node) -> list[str]:
    vip = inventory.vip
    return [node_python(), "-m", "xcatha_verify.vip", "down", str(vip.address), str(vip.prefix), vip.interface]


def _record_storage_id(inventory: Inventory, node: Node) -> list[str]:
    shared = inventory.shared_data[0].path
    # Safe to repeat: once the shared data is disconnected (a resumed deactivation), the id recorded
    # while it was connected stands; a node that never had it connected (a failback deactivating a
    # standby the failover never reached) has nothing to record.
    script = (
        'if [ -s "$1" ]; then mkdir -p "$(dirname "$2")" && cp "$1" "$2" && echo "recorded $(cat "$2")"; '
        'elif ! mountpoint -q "$3"; then '
        'if [ -s "$2" ]; then echo "$3 not connected; recorded id stands: $(cat "$2")"; '
        'else echo "$3 not connected and no id recorded here: nothing to record"; fi; '
        'else echo "no storage id in $1" >&2; exit 1; fi'
    )
    return ["sh", "-c", script, "sh", storage_id_path(shared), STORAGE_RECORD, shared]


def _storage_token(verb: str) -> Argv:
    def argv(inventory: Inventory, node: Node) -> list[str]:
        points = mount_points(inventory.shared_data)
        return [node_python(), "-m", "xcatha_verify.storage", verb, node.name, inventory.shared_data[0].path, *points]

    return argv


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("vip_up", argv=_vip_up, undo=("take the VIP back down", "vip_down")),
        Action("vip_down", argv=_vip_down),
        Action("record_storage_id", argv=_record_storage_id),
        Action("stamp_storage", argv=_storage_token("stamp")),
        Action("set_up_storage_token", argv=_storage_token("set-up")),
        Action("prepare_pg_listen", edit=prepare.prepare_pg_listen),
        Action("prepare_pg_hba", edit=prepare.prepare_pg_hba),
        Action("prepare_hosts", edit=prepare.prepare_hosts),
        Action("prepare_mgtifname", edit=prepare.prepare_mgtifname),
        Action("prepare_site_master", edit=prepare.prepare_site_master),
        Action("prepare_policy", edit=prepare.prepare_policy),
    )
}


def action_of(step: Step) -> Action | None:
    return ACTIONS[step.action] if step.action else None


def _argv(step: Step, inventory: Inventory, node: Node) -> list[str]:
    action = action_of(step)
    return list(step.command) if action is None or action.argv is None else action.argv(inventory, node)


def step_command(step: Step, inventory: Inventory, node: Node) -> str:
    """The shell command line a step runs on the node, every word quoted, under a time limit (the journal's)."""
    action = action_of(step)
    if action is not None and action.edit is not None:
        return f"[{step.action}] edit computed on {node.name}, shown as a diff"
    return f"timeout --kill-after=5 {int(step.timeout_s)} {shlex.join(_argv(step, inventory, node))}"


def admin_command(step: Step, inventory: Inventory, node: Node) -> str:
    """What the step does as an admin would type it (the prompt, --dry-run): no time limit, no shell
    wrapper where the runbook says what it stands for (`shows:`)."""
    action = action_of(step)
    if action is not None and action.edit is not None:
        return f"(an edit computed on {node.name}, shown as a diff)"
    return step.shows or shlex.join(_argv(step, inventory, node))


def run_step(host: Host, step: Step, inventory: Inventory, node: Node, dry_run: bool = False) -> StepOutcome:
    """One attempt of `step` on the node (a dry run only of an action whose dry run reads)."""
    action = action_of(step)
    if action is not None and action.edit is not None:
        return action.edit(host, inventory, node, dry_run)
    try:
        result = host.run(step_command(step, inventory, node))
    except RuntimeError as exc:  # ssh itself failed
        return StepOutcome(255, f"ssh to {node.name} failed: {ssh_reason(exc)}", ssh_failed=True)
    output = (result.stdout + result.stderr).strip()
    if result.rc == 124:
        output += f"\n(timed out after {step.timeout_s:.0f}s)"
    return StepOutcome(result.rc, output)


