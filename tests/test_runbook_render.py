"""Runbooks render from the inventory without letting any value change their shape or reach a shell unquoted."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from xcatha_verify.checkkit import checks_for
from xcatha_verify.errors import UsageError
from xcatha_verify.inventory import Service, load_inventory
from xcatha_verify.runbook_engine import loading
from xcatha_verify.runbook_engine.actions import step_command

INVENTORY = Path(__file__).parent / "inventories" / "full.yml"
EVIL_UNIT = "x'; touch /tmp/xcatha-pwned; echo \"$(id)\" `id` ]: {a: b}"
EVIL_LABEL = "eth0:0$(touch /tmp/xcatha-pwned)"


def _evil_inventory():
    inventory = load_inventory(INVENTORY)
    services = tuple(dataclasses.replace(s, unit=EVIL_UNIT) if s.role == "named" else s for s in inventory.services)
    vip = dataclasses.replace(inventory.vip, label=EVIL_LABEL)
    # Validation would refuse these; the runbooks must be safe even if a bad value got through.
    return dataclasses.replace(inventory, services=services, vip=vip)


@pytest.mark.parametrize("name", ["activate", "deactivate", "prepare"])
def test_hostile_values_stay_single_quoted_words(name: str) -> None:
    inventory = _evil_inventory()
    node = inventory.nodes[0]
    runbook = loading.load(loading.find_runbook(name), loading.context(inventory, node, unplanned=False))
    commands = [step_command(s, inventory, node) for p in runbook.phases for s in p.steps]
    for command in commands:
        if command.startswith("["):  # prepare actions: computed on the node, no shell
            continue
        words = shlex.split(command)
        assert "/tmp/xcatha-pwned" not in " ".join(w for w in words if w not in (EVIL_UNIT, EVIL_LABEL))
    if name != "prepare":
        assert any(EVIL_UNIT in shlex.split(c) for c in commands if not c.startswith("["))


def test_vip_up_carries_the_label_as_one_argument() -> None:
    inventory = _evil_inventory()
    node = inventory.nodes[1]
    runbook = loading.load(loading.find_runbook("activate"), loading.context(inventory, node, unplanned=False))
    vip_step = runbook.phases[0].steps[0]
    assert vip_step.action == "vip_up"
    words = shlex.split(step_command(vip_step, inventory, node))
    assert words[-1] == EVIL_LABEL and words[:4] == ["timeout", "--kill-after=5", "120", words[3]]


def test_unplanned_activate_leaves_out_the_checks_that_need_the_peer() -> None:
    inventory = load_inventory(INVENTORY)
    node = inventory.nodes[1]
    runbook = loading.load(loading.find_runbook("activate"), loading.context(inventory, node, unplanned=True))
    assert runbook.phases[0].gate_before is not None
    assert "pair.peer_deactivated" in runbook.phases[0].gate_before.exclude
    # Every check that needs the (fenced) peer is left out, whatever checks the catalogue holds.
    assert {c.id for c in checks_for("pre-activate") if c.pair} <= set(runbook.phases[0].gate_before.exclude)
    assert "vip.free_on_network" not in runbook.phases[0].gate_before.exclude  # the VIP must be silent
    assert "pair.same_storage" in runbook.phases[-1].gate_after.exclude


def test_unknown_runbook_and_bad_runbook_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no runbook 'nope'; known: activate, deactivate, failover, prepare"):
        loading.find_runbook("nope")
    bad = tmp_path / "bad.yml"
    bad.write_text("phases:\n  - {name: x, node: a, steps: [{name: s, command: 'rm -rf /'}]}\n")
    with pytest.raises(UsageError, match=r"phases\[0\]\.steps\[0\]\.command: expected a list of strings"):
        loading.load(bad, {})
    assert isinstance(Service("named", "named").condition, str)


@pytest.mark.parametrize("unplanned", [False, True])
def test_failover_is_a_runbook_made_of_the_peers_deactivation_and_this_nodes_activation(unplanned: bool) -> None:
    inventory = load_inventory(INVENTORY)
    source, target = inventory.nodes
    failover = loading.load_for("failover", inventory, target, unplanned=unplanned)
    activate = loading.load_for("activate", inventory, target, unplanned=unplanned)
    deactivate = () if unplanned else loading.load_for("deactivate", inventory, source).phases
    assert failover.phases == (*deactivate, *activate.phases)
    assert {p.node for p in deactivate} <= {source.name} and {p.node for p in activate.phases} == {target.name}
    assert failover.name == ("failover-unplanned" if unplanned else "failover")
    vip_up = activate.phases[0].steps[0]  # its undo comes from the action registry, not from the YAML
    assert (vip_up.action, vip_up.undo and vip_up.undo.action) == ("vip_up", "vip_down")


@pytest.mark.parametrize(("text", "message"), [
    ("phases:\n  - {name: x, node: a, gate_after: {phase: active, checks: [vip.presnt]}}\n",
     r"phases\[0\]\.gate_after\.checks: expected check ids from xcatha-verify --list; unknown: vip\.presnt"),
    ("phases:\n  - {name: x, node: a, gate_before: {phase: pre-activate, exclude: [nope]}}\n",
     r"phases\[0\]\.gate_before\.exclude: expected check ids .*unknown: nope"),
    ("phases:\n  - {name: x, node: a, steps: [{name: s, action: vip_up, undo: {name: u, action: vip_down}}]}\n",
     r"phases\[0\]\.steps\[0\]\.undo: expected no undo: an action's undo comes with the action"),
    ("phases:\n  - {name: x, node: a, steps: [{name: s, action: vip_sideways}]}\n",
     r"phases\[0\]\.steps\[0\]\.action: expected one of vip_up, vip_down, record_storage_id, stamp_storage, "
     r"set_up_storage_token, prepare_pg_listen"),
    ("include:\n  - {runbook: activate}\n", r"include\[0\]: expected a mapping with runbook and node"),
])  # fmt: skip
def test_a_runbook_is_validated_against_the_catalogue_and_the_registry(tmp_path: Path, text: str,
                                                                       message: str) -> None:  # fmt: skip
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    with pytest.raises(UsageError, match=f"runbook {bad}: {message}"):
        loading.load(bad, {})


def test_the_prompt_offers_yes_no_and_a_dry_run_of_the_phase() -> None:
    from xcatha_verify.runbook_engine.executor import Executor, Options

    inventory = load_inventory(INVENTORY)
    runbook = loading.load_for("deactivate", inventory, inventory.nodes[0])
    shown: list[str] = []
    answers = iter(["d", "y"])
    options = Options(interactive=True, echo=shown.append, ask=lambda prompt: (shown.append(prompt), next(answers))[1])
    executor = Executor(runbook, inventory, None, Path("/nonexistent"), options)  # type: ignore[arg-type]
    assert executor._confirm(runbook.phases[0]) is True
    text = "\n".join(shown)
    assert "Continue? [Y]es/[N]o/[D]ryrun" in text
    assert "would run on xcatmn1: timeout --kill-after=5 120 sh -c" in text
    answers = iter(["n"])
    assert executor._confirm(runbook.phases[0]) is False


@pytest.mark.parametrize("enabled", [False, True])
def test_xcatha_py_extras_render_only_when_asked(enabled: bool) -> None:
    inventory = dataclasses.replace(load_inventory(INVENTORY), vip_hostname=enabled, vip_nameserver=enabled)
    node = inventory.nodes[0]
    names = {book: [(p.name, s.name) for p in loading.load_for(book, inventory, node).phases for s in p.steps]
             for book in ("activate", "deactivate")}  # fmt: skip
    extras = {
        "activate": [("services", f"/etc/resolv.conf: nameserver {inventory.vip.address} first"),
                     ("services", f"host name {inventory.vip.hostname} (the VIP's)")],
        "deactivate": [("disconnect shared data", "the node's own host name back (from /etc/xcat/ha_mn)")],
    }  # fmt: skip
    for book, steps in extras.items():
        for step in steps:
            assert (step in names[book]) is enabled
    if enabled:  # the name comes back while /etc/xcat (where ha_mn lives) is still connected
        disconnect = [name for phase, name in names["deactivate"] if phase == "disconnect shared data"]
        assert disconnect[0] == "the node's own host name back (from /etc/xcat/ha_mn)"
