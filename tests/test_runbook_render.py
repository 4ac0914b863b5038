"""Runbooks render from the inventory without letting any value change their shape or reach a shell unquoted."""

from __future__ import annotations

import dataclasses
import shlex
import time
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
    with pytest.raises(UsageError, match="no runbook 'nope'; known: activate, deactivate, failback, failover, prepare"):
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


def test_the_prompt_defaults_to_no_reasks_on_nonsense_and_d_shows_plain_commands() -> None:
    from xcatha_verify.runbook_engine.executor import Executor, Options

    inventory = load_inventory(INVENTORY)
    runbook = loading.load_for("deactivate", inventory, inventory.nodes[0])
    stop = runbook.phases[1]
    shown: list[str] = []
    answers: list[str] = []
    options = Options(interactive=True, echo=shown.append, ask=lambda prompt: (shown.append(prompt), answers.pop(0))[1])
    executor = Executor(runbook, inventory, None, Path("/nonexistent"), options)  # type: ignore[arg-type]
    answers[:] = ["yes please", "d", "y"]
    assert executor._confirm(stop) is True and not answers
    text = "\n".join(shown)
    assert "Run phase 'stop services' on xcatmn1 now? [y/N/d] " in shown
    assert "'yes please' is not an answer here: y runs the phase, n or Enter stops the run here" in text
    assert "would run on xcatmn1: systemctl stop xcatd" in text
    assert "timeout --kill-after" not in text and "sh -c" not in text  # the commands an admin would type
    for answer in ("", "n", "No"):
        answers[:] = [answer]
        assert executor._confirm(stop) is False


def test_every_shell_wrapped_step_says_what_an_admin_would_type() -> None:
    inventory = load_inventory(INVENTORY)
    for book in ("activate", "deactivate", "failover", "failback", "prepare"):
        runbook = loading.load_for(book, inventory, inventory.nodes[1])
        wrapped = [s.name for p in runbook.phases for s in p.steps if s.command[:2] == ("sh", "-c") and not s.shows]
        assert wrapped == [], book


def test_failback_lets_both_nodes_go_then_activates_the_previous_one() -> None:
    inventory = load_inventory(INVENTORY)
    back_to = inventory.nodes[0]
    peer = inventory.peer_of(back_to.name).name
    runbook = loading.load_for("failback", inventory, back_to)
    phases = [(p.name, p.node) for p in runbook.phases]
    assert phases[:4] == [(f"{peer}: disable at boot", peer), (f"{peer}: stop services", peer),
                          (f"{peer}: disconnect shared data", peer), (f"{peer}: drop the VIP", peer)]  # fmt: skip
    assert phases[4] == (f"{back_to.name}: disable at boot", back_to.name)
    assert [n for n, _ in phases[8:]] == ["VIP", "shared data", "database", "xcatd", "services"]
    assert {node for _, node in phases[8:]} == {back_to.name}


def test_a_runbook_included_twice_without_a_prefix_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.yml"
    twice.write_text("include:\n  - {runbook: deactivate, node: xcatmn1}\n  - {runbook: deactivate, node: xcatmn2}\n")
    inventory = load_inventory(INVENTORY)
    with pytest.raises(UsageError, match=r"include: expected distinct phase names"):
        loading.load_for("twice", inventory, inventory.nodes[0], extra_dirs=[str(tmp_path)])


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


def test_a_long_step_says_it_is_still_running() -> None:
    from xcatha_verify.runbook_engine.executor import _StillRunning

    said: list[str] = []
    with _StillRunning(said.append, "start xcatd", every=0.05):
        time.sleep(0.28)
    assert len(said) >= 3 and said[0] == "   .. start xcatd: running, 0 s"
    count = len(said)
    time.sleep(0.15)
    assert len(said) == count  # silent once the step ended


def test_a_gate_that_waits_says_for_what(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from xcatha_verify.runbook_engine import executor as executor_mod
    from xcatha_verify.runbook_engine.journal import Journal
    from xcatha_verify.runbook_engine.model import Gate

    inventory = load_inventory(INVENTORY)
    runbook = loading.load_for("activate", inventory, inventory.nodes[1])
    database = next(p for p in runbook.phases if p.name == "database")
    failing = [SimpleNamespace(check_id="pg.accepting", outcome="failed", observed="refused", fix="start it",
                               message="", blocked_by="", expected="")]  # fmt: skip
    answers = [failing] * 6 + [[]]  # red for 6 polls (about 3 s), then green

    def run_checks(*_args: object, **_kwargs: object) -> SimpleNamespace:
        summary = SimpleNamespace(not_ready=answers.pop(0) if len(answers) > 1 else answers[0])
        return SimpleNamespace(summary=summary, unreachable="", reports=[])

    monkeypatch.setattr(executor_mod, "run_checks", run_checks)
    monkeypatch.setattr(executor_mod, "ensure_reachable", lambda *_args: object())  # red checks: is it there?
    monkeypatch.setattr(executor_mod, "GATE_POLL_S", 0.5)
    journal = Journal.create(tmp_path, "activate")
    said: list[str] = []
    options = executor_mod.Options(echo=said.append)
    executor = executor_mod.Executor(runbook, inventory, journal, tmp_path, options)
    executor._gate(database, Gate("post-activate", ("pg.accepting",), retry_timeout_s=30), "after")
    assert any(line.startswith("   waiting for pg.accepting, 2 s of 30 s") for line in said), said
    assert said[-1] == "   gate after database: GREEN (pg.accepting)"


def test_the_run_page_opens_with_the_pair_now(tmp_path: Path) -> None:
    from xcatha_verify.runbook_engine.journal import Journal
    from xcatha_verify.runbook_engine.pairnow import NodeNow, PairNow
    from xcatha_verify.runbook_engine.report import failback_command, render_run_report

    journal = Journal.create(tmp_path, "failover", args={"runbook": "failover", "inventory": "inv.yml",
                             "from_node": "xcatmn1", "to_node": "xcatmn2", "yes": True, "dry_run": False})  # fmt: skip
    pair = PairNow([NodeNow("xcatmn1", connected=("/etc/xcat",), holds_vip=True),
                    NodeNow("xcatmn2", reachable=False, error="ssh: connect to host xcatmn2 port 22: No route")],
                   stopped_in="stop services", previous_active="xcatmn1", continue_command="xcatha-run ... --resume",
                   go_back_command=failback_command(journal, "xcatmn1"))  # fmt: skip
    assert pair.go_back_command == "xcatha-run failback --to xcatmn1 --inventory inv.yml --yes"
    text = "\n".join(pair.lines())
    assert "xCAT is served by: NO NODE" in text and "xcatmn2: unreachable (ssh: connect" in text
    journal.update(pair_now=pair.to_dict())
    journal.finish("failed", "stopped before phase 'stop services' on xcatmn1: the operator answered No",
                   "stop services")  # fmt: skip
    page = render_run_report(journal)
    assert "<h1>FAILED at phase stop services</h1>" in page
    assert page.index('id="pair-now"') < page.index('id="what-next"')
    assert "xcatha-run failback --to xcatmn1 --inventory inv.yml --yes" in page and "NO NODE" in page


def test_a_node_lost_mid_run_gets_continue_once_back_and_the_way_on_without_it(tmp_path: Path) -> None:
    from xcatha_verify.runbook_engine.journal import Journal
    from xcatha_verify.runbook_engine.pairnow import NodeNow, PairNow
    from xcatha_verify.runbook_engine.report import render_run_report, unplanned_command

    journal = Journal.create(tmp_path, "failover", args={"runbook": "failover", "inventory": "inv.yml",
                             "from_node": "xcatmn1", "to_node": "xcatmn2", "yes": True, "dry_run": False})  # fmt: skip
    without = unplanned_command(journal, "xcatmn1")
    assert without == "xcatha-run failover --to xcatmn1 --unplanned --inventory inv.yml --yes"
    pair = PairNow([NodeNow("xcatmn1"), NodeNow("xcatmn2", reachable=False, error="ssh: No route to host")],
                   stopped_in="shared data", previous_active="xcatmn1", continue_command="xcatha-run x --resume",
                   without_node="xcatmn2", without_command=without)  # fmt: skip
    lines = pair.lines()
    assert "  continue once xcatmn2 answers again: xcatha-run x --resume" in lines
    assert f"  without xcatmn2 (power it off or fence it first: it may still hold the VIP and the shared data): " \
           f"{without}" in lines
    journal.update(pair_now=pair.to_dict())
    journal.finish("failed", "xcatmn2 cannot be reached", "shared data")
    page = render_run_report(journal)
    assert "Continue once xcatmn2 answers again:" in page and "Without xcatmn2 (power it off" in page
    assert without in page


@pytest.mark.parametrize("node_answers", [False, True], ids=["node-gone", "node-answers"])
def test_ssh_failing_in_a_step_stops_at_once_when_the_node_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node_answers: bool
) -> None:
    """ssh's exit 255 is asked about: a node that no longer answers stops the run without the step's
    retries, naming the node and ssh's reason; one that answers (the command's own 255) gets them."""
    from xcatha_verify.errors import NodeUnreachable
    from xcatha_verify.runbook_engine import executor as executor_mod
    from xcatha_verify.runbook_engine.journal import Journal
    from xcatha_verify.runbook_engine.model import Phase, Runbook, Step, StepOutcome

    inventory = load_inventory(INVENTORY)
    probes: list[str] = []

    def ensure_reachable(_inventory: object, node: object) -> object:
        probes.append(getattr(node, "name", ""))
        if len(probes) > 1 and not node_answers:
            raise NodeUnreachable("xcatmn2 (ssh://root@xcatmn2) cannot be reached: ssh: connect to host xcatmn2 "
                                  "port 22: No route to host")  # fmt: skip
        return object()

    attempts: list[int] = []

    def run_step(*_args: object, **_kwargs: object) -> StepOutcome:
        attempts.append(1)
        return StepOutcome(255, "ssh to xcatmn2 failed: Connection closed by remote host", ssh_failed=True)

    monkeypatch.setattr(executor_mod, "ensure_reachable", ensure_reachable)
    monkeypatch.setattr(executor_mod.actions, "run_step", run_step)
    step = Step("start postgresql", ("systemctl", "start", "postgresql"), retries=3, retry_delay_s=0)
    runbook = Runbook("activate", "", (Phase("database", "xcatmn2", (step,)),), "test")
    journal = Journal.create(tmp_path, "activate")
    executor = executor_mod.Executor(runbook, inventory, journal, tmp_path, executor_mod.Options(echo=lambda _: None,
                                                                                                 gates=False))
    with pytest.raises(executor_mod.RunStopped) as stopped:
        executor.run()
    if node_answers:
        assert len(attempts) == 4 and "failed (exit 255)" in str(stopped.value)
    else:
        assert len(attempts) == 1 and journal.steps[0].attempts == 1
        assert str(stopped.value) == ("phase 'database', step 'start postgresql': xcatmn2 (ssh://root@xcatmn2) "
                                      "cannot be reached: ssh: connect to host xcatmn2 port 22: No route to host")
