"""Which testinfra backend reaches a node: `local://` when the node is this host, its ssh URI otherwise."""

from __future__ import annotations

import socket
import time

import testinfra
from testinfra.host import Host

from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.inventory import Inventory, Node

REACHABLE_FRESH_S = 1.0
_answered: dict[tuple[str, str | None], float] = {}  # (hostspec, ssh config) -> when it last answered


def this_host_name() -> str:
    return socket.gethostname().split(".")[0]


def hostspec(node: Node) -> str:
    if node.is_local or node.name == this_host_name():
        return "local://"
    return node.target


def get_host(inventory: Inventory, node: Node) -> Host:
    """The (cached) testinfra host for a node; ssh reuses one control connection per node."""
    return testinfra.get_host(hostspec(node), ssh_config=inventory.ssh_config)


def ensure_reachable(inventory: Inventory, node: Node) -> Host:
    """The node's host once a trivial command ran there; NodeUnreachable with ssh's reason otherwise.

    A node that answered less than REACHABLE_FRESH_S ago is not asked again: a runbook asks before
    every step and gate, and a node lost in between still fails the next command (ssh exit 255).
    """
    host = get_host(inventory, node)
    key = (hostspec(node), inventory.ssh_config)
    if time.monotonic() - _answered.get(key, -REACHABLE_FRESH_S) < REACHABLE_FRESH_S:
        return host
    try:
        host.run("true")
    except RuntimeError as exc:
        result = exc.args[0] if exc.args else None
        lines = str(getattr(result, "stderr", "") or exc).strip().splitlines()
        raise NodeUnreachable(
            f"{node.name} ({hostspec(node)}) cannot be reached: {lines[-1] if lines else 'ssh failed'}"
        ) from None
    _answered[key] = time.monotonic()
    return host
