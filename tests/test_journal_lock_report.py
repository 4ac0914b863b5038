"""The record a runbook run leaves: the journal on disk, the run lock, and the run page."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from xcatha_verify.errors import XcathaError
from xcatha_verify.report import MASK, register_secret
from xcatha_verify.runbook_engine import journal as journal_mod
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.journal_records import JOURNAL_NAME, TAIL_LINES, GateRecord, JournalError, StepRecord
from xcatha_verify.runbook_engine.lock import (
    LocalStore,
    LockError,
    LockHeld,
    LockInfo,
    LockLocation,
    RunLock,
    pid_running,
)
from xcatha_verify.runbook_engine.report import (
    drift_command,
    headline,
    render_run_report,
    resume_command,
    write_run_report,
)
from xcatha_verify.runbook_engine.resume import abandoned, completed_phases, effective_status, latest_journal

ROOT = Path(__file__).resolve().parents[1]
ARGS = {"inventory": "/etc/xcatha/inventory.yml", "node": "xcatmn2", "dry_run": False}
PHASES = ["deactivate", "activate"]
FIX = "ip addr del 192.0.2.7/24 dev eth0 label eth0:0"
SCRIPT = "<script>alert('pwned')</script>"


def new_journal(root: Path, runbook: str = "failover", **kw) -> Journal:
    kw.setdefault("args", ARGS)
    kw.setdefault("cluster", "prod")
    kw.setdefault("inventory", ARGS["inventory"])
    kw.setdefault("phases", PHASES)
    return Journal.create(root, runbook, **kw)


def on_disk(journal: Journal) -> dict:
    return json.loads(journal.path.read_text())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_running(proc.pid)
    return proc.pid


def failed_run(root: Path) -> Journal:
    """deactivate done; activate's gate before failed after its first step failed."""
    j = new_journal(root)
    step = j.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd")
    j.finish_step(step, "ok", 0, "stopped\n", 0.4)
    j.add_gate(GateRecord(phase="deactivate", when="after", node="xcatmn1", checks=["post-deactivate"],
                          status="passed", report_paths=[str(j.run_dir / "gates" / "post-deactivate.html")]))
    step = j.start_step("activate", "start postgresql", "xcatmn2", "systemctl start postgresql")
    j.finish_step(step, "failed", 1, f"Job failed\n{SCRIPT}\n", 2.5, attempts=3)
    j.add_gate(GateRecord(
        phase="activate", when="after", node="xcatmn2", checks=["post-activate"], status="failed",
        failing=[{"check_id": "vip.present", "observed": "no address 192.0.2.7 on eth0",
                  "expected": "192.0.2.7/24 label eth0:0", "fix": FIX}],
        report_paths=[str(j.run_dir / "gates" / "post-activate.html")],
    ))
    j.finish("failed", "the gate after activate failed: vip.present", failed_phase="activate")
    return j


# --- journal ------------------------------------------------------------------------------------------


def test_journal_saved_after_every_change(tmp_path):
    j = new_journal(tmp_path)
    assert j.path == tmp_path / j.run_id / JOURNAL_NAME
    assert re.fullmatch(r"\d{8}T\d{6}-failover", j.run_id)
    assert on_disk(j)["status"] == "running"

    step = j.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd")
    data = on_disk(j)  # read back mid-run, as after a kill
    assert [s["status"] for s in data["steps"]] == ["running"]
    assert data["steps"][0]["attempts"] == 1 and data["steps"][0]["started_at"]

    j.finish_step(step, "ok", 0, "done\n", 1.25)
    assert on_disk(j)["steps"][0] | {"started_at": None} == {
        "phase": "deactivate", "index": 1, "name": "stop xcatd", "node": "xcatmn1",
        "command": "systemctl stop xcatd", "status": "ok", "exit_status": 0, "started_at": None,
        "duration_s": 1.25, "output_tail": "done", "attempts": 1, "note": "",
    }

    j.add_gate(GateRecord(phase="deactivate", when="after", node="xcatmn1", checks=["post-deactivate"],
                          status="passed"))
    assert on_disk(j)["gates"][0]["status"] == "passed"

    j.update(message="half way")
    assert on_disk(j)["message"] == "half way"

    j.finish("succeeded", "done")
    data = on_disk(j)
    assert data["status"] == "succeeded" and data["finished_at"]


def test_killed_run_leaves_a_usable_journal(tmp_path):
    child = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from xcatha_verify.runbook_engine.journal import Journal
        j = Journal.create(Path({str(tmp_path)!r}), "failover", cluster="prod", phases=["deactivate"])
        j.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd")
        print(j.path, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        path = Path(proc.stdout.readline().strip())
    finally:
        proc.kill()
        proc.wait()
    j = Journal.load(path)
    assert j.status == "running" and j.steps[0].status == "running"
    assert abandoned(j) and effective_status(j) == "interrupted"
    assert latest_journal(tmp_path) == path
    assert headline(j).startswith("INTERRUPTED at phase deactivate")
    assert [p.name for p in path.parent.iterdir()] == [JOURNAL_NAME]


def test_journal_private_and_atomic(tmp_path, monkeypatch):
    j = new_journal(tmp_path)
    for i in range(5):
        j.finish_step(j.start_step("deactivate", f"step {i}", "xcatmn1", "true"), "ok", 0, "", 0.1)
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    assert [p.name for p in j.run_dir.iterdir()] == [JOURNAL_NAME]  # no temp file left behind
    before = j.path.read_bytes()

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_mod.os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        j.start_step("activate", "start xcatd", "xcatmn2", "systemctl start xcatd")
    assert j.path.read_bytes() == before  # the old journal is whole
    assert [p.name for p in j.run_dir.iterdir()] == [JOURNAL_NAME]


def test_journal_masks_secrets(tmp_path):
    secret, late = "Pw-journal-7731", "Late-secret-5520"
    register_secret(secret)
    j = new_journal(tmp_path, args={**ARGS, "db_password": secret})
    step = j.start_step("activate", f"set {secret}", "xcatmn2", f"psql -c 'ALTER USER xcatadm PASSWORD {secret}'")
    cfgloc = "Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|CfglocPw99"
    j.finish_step(step, "failed", 1, f"line 1\n{cfgloc}\nERROR: {secret} rejected\n{late}\n", note=secret)
    j.add_gate(GateRecord(phase="activate", when="before", node="xcatmn2", checks=["pre-activate"],
                          status="failed", failing=[{"check_id": "pg.cfgloc", "observed": cfgloc,
                                                     "expected": secret, "fix": f"echo {secret}"}]))
    j.finish("failed", f"step failed with {secret}", failed_phase="activate")
    text = j.path.read_text()
    assert secret not in text and "CfglocPw99" not in text
    assert MASK in text and "Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|" + MASK in text
    assert late in text
    register_secret(late)  # learned later: the next save masks it too
    j.update(message="after")
    assert late not in j.path.read_text()


def test_output_tail_is_the_last_lines(tmp_path):
    j = new_journal(tmp_path)
    step = j.start_step("deactivate", "noisy", "xcatmn1", "yes")
    j.finish_step(step, "ok", 0, "".join(f"line {i}\n" for i in range(100)))
    assert on_disk(j)["steps"][0]["output_tail"].splitlines() == [f"line {i}" for i in range(100 - TAIL_LINES, 100)]


def test_journal_load_round_trip(tmp_path):
    j = failed_run(tmp_path)
    loaded = Journal.load(j.path)
    assert loaded.to_dict() == j.to_dict() == on_disk(j)
    assert loaded == j
    assert Journal.load(j.run_dir).run_id == j.run_id  # the run directory works too
    assert loaded.gates[0].report_paths == ["gates/post-deactivate.html"]  # relative to the run dir
    assert isinstance(loaded.steps[0], StepRecord)

    data = on_disk(j) | {"added_in_a_later_version": 1}
    data["steps"][0]["also_new"] = True
    assert Journal.from_dict(data).steps[0] == j.steps[0]  # unknown fields are ignored


@pytest.mark.parametrize(("content", "match"), [
    ("{", "not JSON"),
    ('{"schema_version": "2", "run_id": "x", "runbook": "r", "status": "failed"}', "schema_version '2'"),
    ('{"schema_version": "1", "run_id": "x", "runbook": "r", "status": "exploded"}', "run status 'exploded'"),
    ('{"schema_version": "1", "runbook": "r", "status": "failed"}', "missing run_id"),
])
def test_bad_journal_names_the_file(tmp_path, content, match):
    path = tmp_path / JOURNAL_NAME
    path.write_text(content)
    with pytest.raises(JournalError, match=match) as info:
        Journal.load(path)
    assert str(path) in str(info.value) and info.value.exit_status == 2


def test_completed_phases(tmp_path):
    j = new_journal(tmp_path, phases=["one", "two", "three"])
    assert completed_phases(j) == []
    j.finish_step(j.start_step("one", "a", "n1", "true"), "ok", 0)
    assert completed_phases(j) == []  # its after gate may still come
    j.add_gate(GateRecord(phase="two", when="before", node="n2", checks=["pre-activate"], status="passed"))
    assert completed_phases(j) == ["one"]
    j.finish_step(j.start_step("two", "b", "n2", "false"), "failed", 1)
    j.finish("failed", failed_phase="two")
    assert completed_phases(j) == ["one"]

    ok = new_journal(tmp_path, runbook="other", phases=["one", "two"])
    ok.finish_step(ok.start_step("one", "a", "n1", "true"), "ok", 0)
    ok.add_gate(GateRecord(phase="two", when="after", node="n2", checks=["x"], status="advisory-failed"))
    ok.finish("succeeded")
    assert completed_phases(ok) == ["one", "two"]

    dry = new_journal(tmp_path, runbook="dry", phases=["one"])
    dry.start_step("one", "a", "n1", "true", status="dry-run")
    dry.finish("dry-run")
    assert completed_phases(dry) == []


def test_latest_journal_picks_newest_resumable(tmp_path):
    t0 = datetime(2026, 11, 25, 7, 0, 0).astimezone()
    old_failed = new_journal(tmp_path, now=t0)
    old_failed.finish("failed", failed_phase="activate")
    interrupted = new_journal(tmp_path, now=t0 + timedelta(minutes=5))
    interrupted.finish("interrupted")
    succeeded = new_journal(tmp_path, now=t0 + timedelta(minutes=10))
    succeeded.finish("succeeded")
    other_cluster = new_journal(tmp_path, now=t0 + timedelta(minutes=15), cluster="test")
    other_cluster.finish("failed")
    other_runbook = new_journal(tmp_path, runbook="prepare", now=t0 + timedelta(minutes=20))
    other_runbook.finish("failed")
    in_progress = new_journal(tmp_path, now=t0 + timedelta(minutes=25))  # this process: alive, not resumable
    assert in_progress.status == "running"
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / JOURNAL_NAME).write_text("{not json")

    assert latest_journal(tmp_path, "failover", "prod") == interrupted.path
    assert latest_journal(tmp_path, cluster="prod") == other_runbook.path
    assert latest_journal(tmp_path) == other_runbook.path
    assert latest_journal(tmp_path, "failover", "test") == other_cluster.path
    assert latest_journal(tmp_path, "activate") is None
    assert latest_journal(tmp_path / "missing") is None

    same_second = new_journal(tmp_path, now=t0 + timedelta(minutes=5))  # run dir gets a -2 suffix
    assert same_second.run_id.endswith("-failover-2")
    same_second.finish("failed")
    os.utime(same_second.path, ns=(interrupted.path.stat().st_mtime_ns + 10**9,) * 2)
    assert latest_journal(tmp_path, "failover", "prod") == same_second.path


def test_gate_report_paths_relative_to_the_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    j = new_journal(Path("reports"))  # a relative report root, as xcatha-run's default
    gates = j.run_dir / "gates"
    gates.mkdir()
    for name in ("a.html", "b.html"):
        (gates / name).write_text("report")
    outside = tmp_path / "elsewhere.html"
    gate = j.add_gate(GateRecord(
        phase="deactivate", when="before", node="xcatmn1", checks=["pre-deactivate"], status="passed",
        report_paths=[str(gates / "a.html"), str((gates / "b.html").resolve()), "gates/a.html", str(outside)],
    ))  # fmt: skip
    assert gate.report_paths == ["gates/a.html", "gates/b.html", "gates/a.html", str(outside)]
    html = render_run_report(j)
    assert 'href="gates/a.html"' in html and f'href="{outside.as_uri()}"' in html


# --- lock ---------------------------------------------------------------------------------------------


def make_lock(paths, run_id="run-1", **kw) -> RunLock:
    return RunLock([str(p) if isinstance(p, Path) else p for p in paths], owner="root@xcatmn1",
                   runbook="failover", run_id=run_id, **kw)


def test_lock_acquire_release(tmp_path):
    path = tmp_path / "locks" / "run.lock"
    lock = make_lock([path])
    lock.acquire()
    info = json.loads(path.read_text())
    assert set(info) == {"owner", "host", "pid", "runbook", "run_id", "started_at"}
    assert info["owner"] == "root@xcatmn1" and info["pid"] == os.getpid() and info["run_id"] == "run-1"
    assert info["host"] == socket.gethostname()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lock.release() == [str(path)]
    assert not path.exists()

    with make_lock([path]) as held:
        assert held.held and path.exists()
    assert not path.exists()


def test_second_acquire_names_the_holder(tmp_path):
    path = tmp_path / "run.lock"
    first = make_lock([path]).acquire()
    with pytest.raises(LockHeld) as info:
        RunLock([str(path)], owner="admin@xcatmn2", runbook="activate", run_id="run-2").acquire()
    message = str(info.value)
    assert "\n" not in message
    for part in ("root@xcatmn1", "failover", "run-1", f"pid {os.getpid()}", socket.gethostname(), "since",
                 "--break-lock"):
        assert part in message
    assert "STALE" not in message and info.value.stale is None
    assert isinstance(info.value, XcathaError) and info.value.exit_status == 1
    assert json.loads(path.read_text())["run_id"] == "run-1"  # untouched
    first.release()


def test_acquire_is_all_or_nothing(tmp_path):
    shared, node = tmp_path / "shared.lock", tmp_path / "node.lock"
    other = make_lock([node], run_id="other").acquire()
    with pytest.raises(LockHeld, match="run other"):
        make_lock([shared, node]).acquire()
    assert not shared.exists()  # taken, then given back
    assert json.loads(node.read_text())["run_id"] == "other"
    other.release()
    with make_lock([shared, node]):
        assert shared.exists() and node.exists()
    assert not shared.exists() and not node.exists()


class MemoryStore:
    """A LockStore in memory, standing in for a remote node; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.files: dict[str, str] = {}
        self.fail = fail

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def create_exclusive(self, path: str, text: str) -> bool:
        if self.fail:
            raise ConnectionError("ssh: connect to host xcatmn2 port 22: Connection refused")
        if path in self.files:
            return False
        self.files[path] = text
        return True

    def rename(self, path: str, new_path: str) -> bool:
        if path not in self.files:
            return False
        self.files[new_path] = self.files.pop(path)
        return True

    def remove(self, path: str) -> None:
        self.files.pop(path, None)


def test_locations_bring_their_own_store(tmp_path):
    remote = MemoryStore()
    lock = make_lock([tmp_path / "shared.lock", LockLocation("/var/lib/xcatha/run.lock", remote, "xcatmn2")])
    with lock:
        assert json.loads(remote.files["/var/lib/xcatha/run.lock"])["run_id"] == "run-1"
    assert remote.files == {}

    remote.files["/var/lib/xcatha/run.lock"] = LockInfo("x@y", "elsewhere", 1, "prepare", "r9", "2026").to_text()
    with pytest.raises(LockHeld, match=r"run lock xcatmn2:/var/lib/xcatha/run.lock is held by x@y"):
        lock.acquire()
    assert not (tmp_path / "shared.lock").exists()


def test_store_error_releases_what_was_taken(tmp_path):
    lock = make_lock([tmp_path / "shared.lock", LockLocation("/run.lock", MemoryStore(fail=True), "xcatmn2")])
    with pytest.raises(ConnectionError):
        lock.acquire()
    assert not (tmp_path / "shared.lock").exists()


class BrokenStore(MemoryStore):
    """A store whose create fails quietly (returns False) though nothing is there."""

    def create_exclusive(self, path: str, text: str) -> bool:
        return False


def test_store_that_cannot_create(tmp_path):
    lock = make_lock([tmp_path / "shared.lock", LockLocation("/run.lock", BrokenStore(), "xcatmn2")])
    with pytest.raises(LockError, match=r"xcatmn2:/run\.lock: cannot be created, yet does not exist") as info:
        lock.acquire()
    assert not isinstance(info.value, LockHeld)
    assert not (tmp_path / "shared.lock").exists()


def write_lock(path: Path, **changes) -> None:
    info = {"owner": "root@xcatmn1", "host": socket.gethostname(), "pid": os.getpid(), "runbook": "failover",
            "run_id": "ghost", "started_at": datetime.now().astimezone().isoformat(timespec="seconds")} | changes
    path.write_text(json.dumps(info))


def test_stale_lock_dead_pid(tmp_path):
    path = tmp_path / "run.lock"
    pid = dead_pid()
    write_lock(path, pid=pid)
    with pytest.raises(LockHeld, match=rf"STALE \(pid {pid} is not running on this host\).*--break-lock") as info:
        make_lock([path]).acquire()
    assert info.value.stale
    assert path.exists()  # never removed automatically


def test_stale_lock_old(tmp_path):
    path = tmp_path / "run.lock"
    old = (datetime.now().astimezone() - timedelta(hours=7)).isoformat(timespec="seconds")
    write_lock(path, host="some-other-host", pid=1, started_at=old)  # another host: the pid cannot be checked
    with pytest.raises(LockHeld, match=r"\(7h ago\).*STALE \(older than 6h\)"):
        make_lock([path]).acquire()
    with pytest.raises(LockHeld) as info:
        make_lock([path], stale_after_s=8 * 3600).acquire()
    assert info.value.stale is None and "may still be going" in str(info.value)


def test_unreadable_lock(tmp_path):
    path = tmp_path / "run.lock"
    path.write_text("garbage\nmore")
    with pytest.raises(LockHeld, match=r"not a lock file we can read \('garbage more'\).*--break-lock"):
        make_lock([path]).acquire()


def test_break_lock(tmp_path):
    a, b, c = tmp_path / "a.lock", tmp_path / "b.lock", tmp_path / "c.lock"
    write_lock(a, run_id="ghost-a")
    b.write_text("garbage")
    broken = make_lock([a, b, c]).break_lock()
    assert set(broken) == {str(a), str(b)}
    assert json.loads(broken[str(a)])["run_id"] == "ghost-a" and broken[str(b)] == "garbage"
    assert not a.exists() and not b.exists()
    with make_lock([a, b, c]):
        pass


def test_release_leaves_other_locks(tmp_path):
    mine, theirs = tmp_path / "mine.lock", tmp_path / "theirs.lock"
    lock = make_lock([mine, theirs]).acquire()
    lock.break_lock()  # someone broke ours and took them
    write_lock(theirs, run_id="someone-else")
    assert lock.release() == []
    assert json.loads(theirs.read_text())["run_id"] == "someone-else"


def test_local_store_is_exclusive(tmp_path):
    store, path = LocalStore(), str(tmp_path / "x" / "lock")
    assert store.read(path) is None
    assert store.create_exclusive(path, "one") is True
    assert store.create_exclusive(path, "two") is False
    assert store.read(path) == "one"
    store.remove(path)
    store.remove(path)
    os.symlink(tmp_path / "target", path)  # a planted symlink is never followed
    assert store.create_exclusive(path, "three") is False
    assert not (tmp_path / "target").exists()


# --- run page -----------------------------------------------------------------------------------------

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(|<link\b|<script\b""", re.I)


def test_run_page_failed(tmp_path):
    secret = "Pw-page-4410"
    register_secret(secret)
    j = failed_run(tmp_path)
    j.steps[1].output_tail += f"\n{secret}"
    page = write_run_report(j, j.run_dir)
    assert page == j.run_dir / "index.html"
    html = page.read_text()
    assert "FAILED at phase activate" in html
    assert "the gate after activate failed: vip.present" in html
    assert FIX in html
    command = "xcatha-run failover --inventory /etc/xcatha/inventory.yml --node xcatmn2 --resume"
    assert resume_command(j) == command and command in html
    assert "it starts again at phase <b>activate</b>" in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert SCRIPT not in html and secret not in html
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert 'href="gates/post-activate.html"' in html and 'href="journal.json"' in html
    assert "prod" in html and "xcatmn2" in html and "3</td>" in html  # cluster, argument, attempts
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert sorted(p.name for p in j.run_dir.iterdir()) == ["index.html", JOURNAL_NAME]


def test_run_page_succeeded(tmp_path):
    j = new_journal(tmp_path)
    j.add_gate(GateRecord(phase="deactivate", when="before", node="xcatmn1", checks=["pre-deactivate"],
                          status="passed", duration_s=1.5))
    j.finish_step(j.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd"), "ok", 0, "", 0.2)
    j.finish_step(j.start_step("activate", "start xcatd", "xcatmn2", "systemctl start xcatd"), "ok", 0, "", 0.3)
    j.finish("succeeded", "xcatmn2 is the active management node")
    html = write_run_report(j, j.run_dir).read_text()
    assert headline(j) == "SUCCEEDED" and "<h1>SUCCEEDED</h1>" in html
    assert drift_command(j) == "xcatha-verify drift --inventory /etc/xcatha/inventory.yml"
    assert drift_command(j) in html
    assert "--resume" not in html
    assert not EXTERNAL.search(html)


def test_commands_from_xcatha_run_arguments(tmp_path):
    args = {  # vars() of xcatha-run's parsed arguments
        "runbook": "failover", "inventory": "inv.yml", "node": None, "from_node": None, "to_node": "xcatmn2",
        "unplanned": True, "fenced": True, "dry_run": False, "yes": True, "resume": True, "break_lock": True,
        "report_dir": "site reports", "runbook_dir": ["/etc/xcatha/runbooks", "/srv/rb"],
    }  # fmt: skip
    j = new_journal(tmp_path, runbook="failover-unplanned", args=args, inventory="/abs/inv.yml")
    assert resume_command(j) == (
        "xcatha-run failover --inventory inv.yml --to xcatmn2 --unplanned --fenced --yes --report-dir 'site reports' "
        "--runbook-dir /etc/xcatha/runbooks --runbook-dir /srv/rb --resume"
    )
    assert drift_command(j) == "xcatha-verify drift --inventory inv.yml --report-dir 'site reports'"


@pytest.mark.parametrize(("status", "expected", "command"), [
    ("dry-run", "DRY RUN", "xcatha-run failover --inventory /etc/xcatha/inventory.yml --node xcatmn2"),
    ("refused", "REFUSED", "xcatha-run failover --inventory /etc/xcatha/inventory.yml --node xcatmn2"),
    ("interrupted", "INTERRUPTED at phase deactivate", "--resume"),
])
def test_run_page_other_endings(tmp_path, status, expected, command):
    j = new_journal(tmp_path, args={**ARGS, "dry_run": status == "dry-run", "break_lock": True})
    j.start_step("deactivate", "stop xcatd", "xcatmn1", "systemctl stop xcatd",
                 status="dry-run" if status == "dry-run" else "running")
    j.finish(status, "stopped")  # type: ignore[arg-type]
    html = render_run_report(j)
    assert f"<h1>{expected}</h1>" in html
    assert command in html
    assert "--break-lock" not in html and "--dry-run" not in html


# --- the schema document ------------------------------------------------------------------------------

SCHEMA_DOC = ROOT / "docs" / "journal-schema.md"


def test_schema_doc_example_and_fields():
    text = SCHEMA_DOC.read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    j = Journal.from_dict(example)
    assert j.to_dict() == example  # the example is exactly what the code writes
    assert completed_phases(j) == ["deactivate"]
    assert f"`{resume_command(j)}`" in text
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert set(example) | set(example["steps"][0]) | set(example["gates"][0]) <= documented
