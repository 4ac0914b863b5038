"""How a drift run finds a runbook holding the run lock, without a lab: the nodes' lock files are files in a
temporary directory, read by the one command drift runs on each node (through testinfra's local backend).
"""

import json
import os
import socket
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import testinfra

from xcatha_verify.cli import verify
from xcatha_verify.drift import runlocks
from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.inventory import load_inventory
from xcatha_verify.nodepaths import NODE_LOCK, shared_lock_path
from xcatha_verify.report import CheckResult, RunSummary
from xcatha_verify.runbook_engine.lock import LockInfo
from xcatha_verify.runner import NodeRun, RunResult


def dead_pid() -> int:
    """A pid that was this host's and is gone (reaped): what a killed xcatha-run leaves in its lock."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def lock(pid: int, run_id: str = "20261125T075500-failover", owner: str = "root@xcatmn1") -> LockInfo:
    # Started now: only a dead pid on this host makes it stale, not its age.
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    return LockInfo(owner, socket.gethostname(), pid, "failover", run_id, started)


@pytest.fixture
def pair(tmp_path, monkeypatch):
    """Both nodes of the inventory answer on this machine; each has its own node lock file, the shared
    storage's lock is one file, and the shared path is a mount point on xcatmn1 only ("/" stands for it)."""
    files = {"xcatmn1": tmp_path / "xcatmn1.lock", "xcatmn2": tmp_path / "xcatmn2.lock"}
    inventory_file = tmp_path / "inventory.yml"
    inventory_file.write_text(
        "cluster: test\nvip: {address: 192.0.2.7, hostname: xcatmn.cluster.example}\n"
        "nodes:\n  - {name: xcatmn1, target: local, static_ip: 192.0.2.70}\n"
        "  - {name: xcatmn2, target: 'ssh://root@192.0.2.71', static_ip: 192.0.2.71}\n"
    )
    inventory = load_inventory(inventory_file)
    shared = inventory.shared_data[0].path
    unreachable: set[str] = set()
    given_up: list[str] = []
    mounted_on = {"xcatmn1": "/", "xcatmn2": str(tmp_path)}  # tmp_path is not a mount point
    asked: list[str] = []

    class NodeHost:
        """The local backend, with NODE_LOCK and the shared path pointing at this node's own files."""

        def __init__(self, name: str) -> None:
            self.name, self.local = name, testinfra.get_host("local://")

        def run(self, command: str, *args: str):
            asked.append(self.name)
            here = {NODE_LOCK: files[self.name].as_posix(), shared: mounted_on[self.name],
                    shared_lock_path(shared): (tmp_path / "shared.lock").as_posix()}
            return self.local.run(command, *(here.get(arg, arg) for arg in args))

    def reach(_inventory, node):
        if node.name in unreachable:
            raise NodeUnreachable(f"{node.name} (ssh://root@{node.name}) cannot be reached: No route to host")
        return NodeHost(node.name)

    monkeypatch.setattr(runlocks, "ensure_reachable", reach)
    monkeypatch.setattr(runlocks, "give_up_on", lambda _inv, node, _why: given_up.append(node.name))
    return type("Pair", (), {"inventory": inventory, "files": files, "shared": tmp_path / "shared.lock",
                             "unreachable": unreachable, "given_up": given_up, "asked": asked})


def test_no_lock_anywhere_is_no_holder(pair):
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.found == [] and survey.holder is None and survey.stale_note() == ""
    assert pair.asked == ["xcatmn1", "xcatmn2"]  # one command per node


def test_a_live_runs_locks_are_found_on_each_node_and_the_mounted_storage(pair):
    live = lock(os.getpid())
    for path in (pair.files["xcatmn1"], pair.files["xcatmn2"], pair.shared):
        path.write_text(live.to_text())
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.holder is not None and survey.holder.info == live
    # xcatmn2 has the shared path unmounted: its storage lock is not asked for.
    assert survey.places_of(live.run_id) == ["xcatmn1", "shared storage via xcatmn1", "xcatmn2"]
    assert survey.stale == []
    assert survey.holder.describe() == f"run {live.run_id}, failover, root@xcatmn1, since {live.started_at}"


def test_only_the_storage_lock_left_still_counts(pair):
    """A deactivation unmounts the storage before it ends: its storage lock is all there is of it."""
    live = lock(os.getpid())
    pair.shared.write_text(live.to_text())
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.holder is not None and survey.holder.where == "shared storage via xcatmn1"


def test_a_dead_pid_on_this_host_is_stale_and_named_in_the_note(pair):
    gone = lock(dead_pid())
    pair.files["xcatmn1"].write_text(gone.to_text())
    pair.shared.write_text(gone.to_text())
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.holder is None
    assert [lock.where for lock in survey.stale] == ["xcatmn1", "shared storage via xcatmn1"]
    note = survey.stale_note()
    assert note.startswith(f"stale run lock passed over: run {gone.run_id}, failover, root@xcatmn1, since ")
    assert f"at xcatmn1, shared storage via xcatmn1 (pid {gone.pid} is not running on this host)" in note
    assert note.count(gone.run_id) == 1  # one entry per run, not per file


def test_a_live_lock_wins_over_a_stale_one(pair):
    pair.files["xcatmn1"].write_text(lock(dead_pid(), "20261124T010000-failover").to_text())
    pair.files["xcatmn2"].write_text(lock(os.getpid()).to_text())
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.holder is not None and survey.holder.where == "xcatmn2"
    assert [s.info.run_id for s in survey.stale] == ["20261124T010000-failover"]


def test_an_unreachable_node_is_not_asked_and_not_asked_again(pair):
    pair.unreachable.add("xcatmn2")
    pair.files["xcatmn2"].write_text(lock(os.getpid()).to_text())  # there, but nobody can read it
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.holder is None
    assert pair.asked == ["xcatmn1"] and pair.given_up == ["xcatmn2"]
    assert "No route to host" in survey.unreachable["xcatmn2"]


def test_a_file_that_is_no_lock_is_passed_over(pair, caplog):
    pair.files["xcatmn1"].write_text("not json at all\n")
    survey = runlocks.survey_run_locks(pair.inventory)
    assert survey.found == [] and survey.holder is None
    assert "not a lock file we can read" in caplog.text


def test_an_owner_spelling_the_separator_does_not_split_the_output_wrongly(pair):
    """Lock files are one line of JSON: a newline in a field is escaped, so the separator line never occurs."""
    odd = lock(os.getpid(), owner=f"root\n{runlocks._SEPARATOR}\n@xcatmn1")
    pair.files["xcatmn1"].write_text(odd.to_text())
    survey = runlocks.survey_run_locks(pair.inventory)
    assert [(found.where, found.info) for found in survey.found] == [("xcatmn1", odd)]


# --- the drift command: when it reads the locks, what it prints and exits with -------------------------

INVENTORY = Path(__file__).resolve().parent / "inventories" / "minimal.yml"


@pytest.fixture
def drift_command(tmp_path, monkeypatch):
    """`xcatha-verify drift` in this process, with the surveys it makes given in order and its checks counted."""
    surveys: list[runlocks.LockSurvey] = []
    checked: list[int] = []

    def survey(_inventory):
        return surveys.pop(0)

    def checks(_inventory, runs, _report_dir, _formats, _keyword, _color="never"):
        """Every node green: one passed check each."""
        checked.append(len(runs))
        return [RunResult(run, RunSummary("0.1.0", "test", run.node.name, "drift", run_started, "", results=[
            CheckResult("vip.present", run.node.name, "drift", "passed")])) for run in runs]

    run_started = datetime.now().astimezone().isoformat(timespec="seconds")
    monkeypatch.setattr(verify, "survey_run_locks", survey)
    monkeypatch.setattr(verify, "plan_runs",
                        lambda _inventory, nodes, phase: [NodeRun(n, phase, role="standby") for n in nodes])
    monkeypatch.setattr(verify, "run_checks_in_parallel", checks)

    def run(*found: runlocks.LockSurvey) -> tuple[int, dict]:
        surveys.extend(found)
        status = verify._run(verify._parser().parse_args(
            ["--inventory", str(INVENTORY), "drift", "--report-dir", str(tmp_path / "drift")]))
        assert surveys == []  # every survey expected was made
        return status, json.loads((tmp_path / "drift" / "latest.json").read_text())

    return type("Drift", (), {"run": staticmethod(run), "checked": checked, "index": tmp_path / "drift" / "index.html"})


def held_by(pid: int, where: str = "xcatmn1") -> runlocks.LockSurvey:
    live = lock(pid)
    return runlocks.LockSurvey([runlocks.FoundLock(live, where, live.stale_reason())])


def test_a_lock_held_before_the_checks_means_no_check_runs(drift_command, capsys):
    status, latest = drift_command.run(held_by(os.getpid()))
    assert status == 0 and drift_command.checked == []
    assert latest["verdict"] == "in-progress" and latest["run_lock"]["found_on"] == ["xcatmn1"]
    assert latest["note"].startswith(f"failover in progress (run {latest['run_lock']['run_id']}, failover, "
                                     "root@xcatmn1, since ") and latest["note"].endswith("): not judged")
    assert capsys.readouterr().out == f"drift: {latest['note']}; history: {drift_command.index}\n"


def test_a_runbook_that_started_during_the_checks_makes_the_run_in_progress(drift_command):
    status, latest = drift_command.run(runlocks.LockSurvey(), held_by(os.getpid(), "xcatmn2"))
    assert drift_command.checked == [2]  # the checks ran, then the lock turned up: what they saw is not judged
    assert status == 0 and latest["verdict"] == "in-progress" and latest["run_lock"]["found_on"] == ["xcatmn2"]


def test_a_stale_lock_is_printed_and_the_run_judged(drift_command, capsys):
    stale = held_by(dead_pid())
    status, latest = drift_command.run(stale, runlocks.LockSurvey())
    assert drift_command.checked == [2]
    assert status == 0 and latest["verdict"] == "green"
    assert latest["run_lock"] is None and latest["note"] == stale.stale_note()
    assert f"drift: {stale.stale_note()}\n" in capsys.readouterr().out


def test_a_green_run_says_so_in_words(drift_command, capsys):
    status, latest = drift_command.run(runlocks.LockSurvey(), runlocks.LockSurvey())
    assert status == 0 and latest["verdict"] == "green"
    assert capsys.readouterr().out == f"drift: green, no drift; history: {drift_command.index}\n"
