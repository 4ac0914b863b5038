"""Which testinfra backend reaches a node: `local://` when the node is this host, its ssh URI otherwise."""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

import testinfra
from testinfra.host import Host

from xcatha_verify.errors import NodeUnreachable, ssh_reason
from xcatha_verify.inventory import Inventory, Node

REACHABLE_FRESH_S = 1.0
# A live ssh connection answers `true` in milliseconds. One shared through a control master whose
# link is gone stays silent until the master's ServerAlive gives up (10 s and more); after this long
# the master is ended, so ssh connects afresh and its ConnectTimeout decides.
PROBE_ANSWER_S = 3.0
_answered: dict[tuple[str, str | None], float] = {}  # (hostspec, ssh config) -> when it last answered
_given_up: dict[tuple[str, str | None], str] = {}  # (hostspec, ssh config) -> why it is not asked again


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
    if key in _given_up:
        raise NodeUnreachable(_given_up[key])
    if time.monotonic() - _answered.get(key, -REACHABLE_FRESH_S) < REACHABLE_FRESH_S:
        return host
    try:
        _probe(host, inventory, node)
    except RuntimeError as exc:
        reason = ssh_reason(exc)
        if reason.startswith("ssh failed") and hostspec(node) != "local://":
            # Nothing said: a control master that lost its link fails its clients silently. Without it,
            # ssh connects afresh and says why it cannot.
            _end_control_master(inventory, node)
            try:
                _probe(host, inventory, node)
            except RuntimeError as again:
                reason = ssh_reason(again)
            else:
                _answered[key] = time.monotonic()
                return host
        raise NodeUnreachable(f"{node.name} ({hostspec(node)}) cannot be reached: {reason}") from None
    _answered[key] = time.monotonic()
    return host


def give_up_on(inventory: Inventory, node: Node, why: str) -> None:
    """`node` is not asked again by this process or the children it forks: ensure_reachable raises `why`.

    For a run that looks at each node once (drift's planning found it unreachable): its checks then
    need no second connection timeout. A runbook, which waits for nodes to come back, never calls it.
    """
    _given_up[(hostspec(node), inventory.ssh_config)] = why


def forget_answer(inventory: Inventory, node: Node) -> None:
    """The next ensure_reachable asks `node` again, however recently it answered (ssh just failed there)."""
    _answered.pop((hostspec(node), inventory.ssh_config), None)


def _probe(host: Host, inventory: Inventory, node: Node) -> None:
    """`true` on the node (RuntimeError from testinfra when ssh fails), never waiting on a silent master."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(host.run, "true")
        try:
            answer.result(timeout=PROBE_ANSWER_S)
            return
        except FutureTimeout:
            if hostspec(node) != "local://":
                _end_control_master(inventory, node)
        answer.result()


def _end_control_master(inventory: Inventory, node: Node) -> None:
    """`ssh -O exit` for the node, with the options testinfra connects with (same ControlPath); quiet."""
    where = urlsplit(node.target)
    argv = ["ssh"]
    if inventory.ssh_config:
        argv += ["-F", inventory.ssh_config]
    if where.username:
        argv += ["-o", f"User={where.username}"]
    if where.port:
        argv += ["-p", str(where.port)]
    argv += ["-O", "exit", "--", where.hostname or node.name]
    subprocess.run(argv, capture_output=True, check=False, timeout=10, stdin=subprocess.DEVNULL)
