"""Built-in runbook actions and command steps, run on a node through its testinfra host.

Every value from the inventory reaches the node's shell through shlex quoting; commands are argv
lists. Each action can say what it would do (`describe`) without doing it.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from testinfra.host import Host

from xcatha_verify.errors import UsageError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook.model import Step

STORAGE_ID = ".xcatha-storage-id"
STORAGE_RECORD = "/var/lib/xcatha/storage-id"


@dataclass(frozen=True)
class Outcome:
    rc: int
    output: str


def _python() -> str:
    # The nodes run the same installation of xcatha-verify (same path on both management nodes).
    return sys.executable


def action_argv(step: Step, inventory: Inventory, node: Node) -> list[str]:
    """The argv a built-in action runs on the node."""
    vip = inventory.vip
    if step.action == "vip_up":
        return [_python(), "-m", "xcatha_verify.vip", "up", str(vip.address), str(vip.prefix), vip.interface, vip.label]
    if step.action == "vip_down":
        return [_python(), "-m", "xcatha_verify.vip", "down", str(vip.address), str(vip.prefix), vip.interface]
    if step.action == "record_storage_id":
        shared = inventory.shared_data[0].path
        # Safe to repeat: once the shared data is disconnected (a resumed deactivation), the id recorded
        # while it was connected stands.
        script = (
            'if [ -s "$1" ]; then mkdir -p "$(dirname "$2")" && cp "$1" "$2" && echo "recorded $(cat "$2")"; '
            'elif [ -s "$2" ] && ! mountpoint -q "$3"; then echo "$3 not connected; recorded id stands: $(cat "$2")"; '
            'else echo "no storage id in $1" >&2; exit 1; fi'
        )
        return ["sh", "-c", script, "sh", f"{shared}/{STORAGE_ID}", STORAGE_RECORD, shared]
    raise UsageError(f"action {step.action} does not run on a node")


def step_command(step: Step, inventory: Inventory, node: Node) -> str:
    """The shell command line a step runs on the node, every word quoted, under a time limit."""
    if step.action and step.action.startswith("prepare_"):
        return f"[{step.action}] edit computed on {node.name}, shown as a diff"
    argv = list(step.command) if step.command else action_argv(step, inventory, node)
    return f"timeout --kill-after=5 {int(step.timeout_s)} {shlex.join(argv)}"


def run_step(host: Host, step: Step, inventory: Inventory, node: Node) -> Outcome:
    try:
        result = host.run(step_command(step, inventory, node))
    except RuntimeError as exc:  # ssh itself failed
        return Outcome(255, f"ssh to {node.name} failed: {exc}")
    output = (result.stdout + result.stderr).strip()
    if result.rc == 124:
        output += f"\n(timed out after {step.timeout_s:.0f}s)"
    return Outcome(result.rc, output)


def condition_holds(facts: NodeFacts, condition: str) -> tuple[bool, str]:
    """A step's `when`, judged from the node's facts (read once per phase); returns (holds, why).

    Raises FactError when the node cannot tell (xcatd does not answer the site table read). The
    facts are the checks' own (`NodeFacts.site_domain`, `.console_choice`): a condition means what
    the check that judges the same thing means.
    """
    if condition == "site_domain":
        domain = facts.site_domain
        return bool(domain), f"site domain {domain!r}" if domain else "no domain in the site table"
    if condition.startswith("console_server:"):
        found, why = facts.console_choice
        return found == condition.split(":", 1)[1], why
    raise UsageError(f"unknown condition {condition}")
