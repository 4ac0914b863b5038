"""targets.ensure_reachable: a silent control master is ended, a node given up on is not asked again."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xcatha_verify import targets
from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.inventory import Inventory, load_inventory

INVENTORY = Path(__file__).parent / "inventories" / "minimal.yml"


class SilentUntilMasterEnds:
    """A testinfra host whose `true` hangs, as over a master whose link is gone, until `ssh -O exit`."""

    def __init__(self) -> None:
        self.master_ended = threading.Event()
        self.calls = 0

    def run(self, command: str) -> None:
        self.calls += 1
        if not self.master_ended.wait(timeout=30):
            raise AssertionError("the control master was never ended")
        raise RuntimeError("ssh: connect to host 192.0.2.70 port 22: Connection timed out")


@pytest.fixture
def inventory() -> Iterator[Inventory]:
    yield load_inventory(INVENTORY)
    targets._given_up.clear()
    targets._answered.clear()


def test_a_probe_over_a_silent_master_ends_it_then_reports_ssh_own_reason(
    inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = SilentUntilMasterEnds()
    exits: list[list[str]] = []

    def fake_run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        exits.append(argv)
        host.master_ended.set()
        return subprocess.CompletedProcess(argv, 0, b"", b"Exit request sent.\n")

    monkeypatch.setattr(targets, "get_host", lambda inv, node: host)
    monkeypatch.setattr(targets.subprocess, "run", fake_run)
    monkeypatch.setattr(targets, "PROBE_ANSWER_S", 0.05)
    node = inventory.node("xcatmn1")
    with pytest.raises(NodeUnreachable, match=r"cannot be reached: ssh: connect to host .* Connection timed out"):
        targets.ensure_reachable(inventory, node)
    # The master is asked to exit with the user, host (and config) testinfra connects with.
    assert exits == [["ssh", "-o", "User=root", "-O", "exit", "--", "192.0.2.70"]]


def test_a_node_given_up_on_is_not_asked_again(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    host = SilentUntilMasterEnds()
    monkeypatch.setattr(targets, "get_host", lambda inv, node: host)
    node = inventory.node("xcatmn1")
    targets.give_up_on(inventory, node, "xcatmn1 (ssh://root@192.0.2.70) cannot be reached: timed out")
    with pytest.raises(NodeUnreachable, match="timed out"):
        targets.ensure_reachable(inventory, node)
    assert host.calls == 0


def test_ssh_reason_is_what_ssh_said_never_an_object_dump() -> None:
    from testinfra.backend.base import CommandResult

    from xcatha_verify.errors import ssh_reason

    class Backend:  # what CommandResult asks of a backend to decode its output
        def decode(self, data: bytes) -> str:
            return data.decode()

    said = b"Warning: Permanently added ...\nssh: connect to host 192.0.2.70 port 22: No route to host\n"
    failed = RuntimeError(CommandResult(Backend(), 255, b"true", b"", said))  # type: ignore[arg-type]
    assert ssh_reason(failed) == "ssh: connect to host 192.0.2.70 port 22: No route to host"
    silent = RuntimeError(CommandResult(Backend(), 255, b"true", b"", b""))  # type: ignore[arg-type]
    assert ssh_reason(silent) == "ssh failed (exit 255)"
    assert "CommandResult" not in ssh_reason(silent)
    assert ssh_reason(OSError(28, "No space left on device")) == "[Errno 28] No space left on device"
