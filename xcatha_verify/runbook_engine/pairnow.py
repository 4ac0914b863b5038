"""What the pair is now, after a run stopped (a failed step or gate, No, Ctrl-C): for each node whether
it holds the VIP, has the shared data connected and which services run; which node (if any) serves
xCAT; and the commands that continue the run or go back to the node that was active before it.

Read from the nodes themselves (one ``ip``, one ``findmnt`` and one ``systemctl show`` each), never
inferred from the journal: a step that timed out may still have done its work. The record is plain
data (the journal keeps it as ``pair_now``; the console and the run page show it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xcatha_verify.errors import NodeUnreachable, ssh_reason, without_command_dump
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook_engine.journal_records import now_iso
from xcatha_verify.targets import ensure_reachable


@dataclass(frozen=True)
class NodeNow:
    name: str
    reachable: bool = True
    error: str = ""  # why it could not be read
    holds_vip: bool = False
    connected: tuple[str, ...] = ()  # shared paths connected here
    not_connected: tuple[str, ...] = ()
    running: tuple[str, ...] = ()  # listed units active (or starting) here
    serves_xcat: bool = False  # VIP, every shared path, the database and xcatd: what clients need

    @property
    def state(self) -> tuple[bool, bool, tuple[str, ...], tuple[str, ...]]:
        """What a run moves (enablement at boot aside: disabled is every node's steady state)."""
        return (self.reachable, self.holds_vip, self.connected, self.running)

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.name}: unreachable ({self.error})"
        total = len(self.connected) + len(self.not_connected)
        shared = "all" if not self.not_connected else ("none" if not self.connected else f"{len(self.connected)}")
        running = ", ".join(self.running) or "none of the services"
        return (f"{self.name}: VIP {'yes' if self.holds_vip else 'no'}; shared data {shared} of {total} "
                f"connected; running: {running}")  # fmt: skip


def _connected(facts: NodeFacts, inventory: Inventory) -> tuple[list[str], list[str]]:
    mounts = facts.mounts
    connected: list[str] = []
    missing: list[str] = []
    for entry in inventory.shared_data:
        # A symlink-mode path is as connected as the shared root it points into.
        point = entry.path if entry.mode == "mount" else (entry.root or entry.path)
        (connected if point in mounts else missing).append(entry.path)
    return connected, missing


def observe_node(inventory: Inventory, node: Node) -> NodeNow:
    try:
        facts = NodeFacts(ensure_reachable(inventory, node), node, inventory)
        connected, missing = _connected(facts, inventory)
        running = tuple(s.unit for s in facts.running_services)
        holds_vip = facts.holds_vip
    except (NodeUnreachable, AssertionError, RuntimeError) as exc:  # testinfra's check_output asserts
        why = ssh_reason(exc) if isinstance(exc, RuntimeError) else without_command_dump(str(exc).split("\n")[0])
        return NodeNow(node.name, reachable=False, error=why or type(exc).__name__)
    serves = (holds_vip and not missing and inventory.database_service.unit in running
              and inventory.xcatd_unit in running)  # fmt: skip
    return NodeNow(node.name, True, "", holds_vip, tuple(connected), tuple(missing), running, serves)


def observe(inventory: Inventory) -> list[NodeNow]:
    return [observe_node(inventory, node) for node in inventory.nodes]


@dataclass
class PairNow:
    """The pair after a stop, and the ways on from it."""

    nodes: list[NodeNow]
    stopped_in: str | None = None  # the phase under way (or asked about) when the run stopped
    previous_active: str | None = None  # the node that was active before the run
    continue_command: str = ""
    go_back_command: str = ""  # empty: nothing to go back from (or no way back, see go_back_note)
    go_back_note: str = ""
    # A node that cannot be read: the way on without it, once it is fenced (it may hold the VIP and the data).
    without_node: str = ""
    without_command: str = ""
    observed_at: str = field(default_factory=now_iso)

    @property
    def serving(self) -> list[str]:
        return [n.name for n in self.nodes if n.serves_xcat]

    def lines(self) -> list[str]:
        out = ["PAIR NOW" + (f" (the run stopped in phase {self.stopped_in!r})" if self.stopped_in else "")]
        out += [f"  {n.describe()}" for n in self.nodes]
        serving = self.serving
        out.append(f"  xCAT is served by: {', '.join(serving)}" if serving
                   else "  xCAT is served by: NO NODE (clients have no management node now)")  # fmt: skip
        if self.continue_command:
            when = f" once {self.without_node} answers again" if self.without_node else ""
            out.append(f"  continue{when}: {self.continue_command}")
        if self.go_back_command:
            out.append(f"  go back to {self.previous_active}: {self.go_back_command}")
        if self.go_back_note:
            out.append(f"  {self.go_back_note}")
        if self.without_command:
            out.append(f"  without {self.without_node} (power it off or fence it first: it may still hold the VIP "
                       f"and the shared data): {self.without_command}")  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["serving"] = self.serving
        return data
