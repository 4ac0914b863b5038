"""NodeFacts' commands started ahead, on this machine's own shell (testinfra's local backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
import testinfra

from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import load_inventory

INVENTORY = Path(__file__).parent / "inventories" / "minimal.yml"


@pytest.fixture
def facts() -> NodeFacts:
    inventory = load_inventory(INVENTORY)
    return NodeFacts(testinfra.get_host("local://"), inventory.nodes[0], inventory)


def test_run_collects_a_started_command_once_then_runs_afresh(facts: NodeFacts) -> None:
    command = "echo pid=$$"
    facts.start(command)
    started = facts.run(command)
    again = facts.run(command)
    assert started.rc == 0 and started.stdout.startswith("pid=")
    assert again.stdout != started.stdout  # a new shell: the started result is used once


def test_started_commands_run_side_by_side(facts: NodeFacts, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    # The first waits for what the second does: run one after the other, the first would time out.
    waiter = "timeout 10 sh -c 'until [ -e \"$1\" ]; do sleep 0.05; done; echo saw it' sh %s"
    facts.start(waiter, str(flag))
    facts.start("sleep 0.2; touch %s", str(flag))
    result = facts.run(waiter, str(flag))
    assert (result.rc, result.stdout.strip()) == (0, "saw it")
    assert facts.run("sleep 0.2; touch %s", str(flag)).rc == 0


def test_arguments_are_quoted_and_part_of_what_matches(facts: NodeFacts, tmp_path: Path) -> None:
    hostile = "x; touch " + str(tmp_path / "pwned")
    facts.start("printf %%s %s", hostile)
    assert facts.run("printf %%s %s", "other").stdout == "other"  # not the started one
    assert facts.run("printf %%s %s", hostile).stdout == hostile
    assert not (tmp_path / "pwned").exists()

