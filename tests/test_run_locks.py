"""Run locks that are written whole or not at all, name the OS's reason when they cannot be, and pass
from a run to the run resuming it (issue 15).

The full-storage cases run on a real 64 KiB tmpfs filled to the last block, mounted in a mount
namespace of the test's own (`unshare --mount`), so the machine's filesystems never fill and nothing
stays mounted; both stores are tried: this machine's files (`LocalStore`) and a node's through a
testinfra host (`HostStore`, here `local://`: the same shell commands a node runs over ssh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import testinfra

from tests.test_journal_lock_report import MemoryStore
from xcatha_verify.runbook_engine.hoststore import HostStore
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.lock import (
    LocalStore,
    LockError,
    LockHeld,
    LockInfo,
    LockLocation,
    LockStore,
    RunLock,
)

PLACE = "shared storage via xcatmn1"

# Runs in the full tmpfs: take the lock twice (the second as a retry after `--break-lock` would), print
# what each attempt said and what the directory holds afterwards.
FULL_PROBE = r"""
import json, os, sys
import testinfra
from xcatha_verify.runbook_engine.hoststore import HostStore
from xcatha_verify.runbook_engine.lock import LocalStore, LockError, LockLocation, RunLock
root, kind = sys.argv[1], sys.argv[2]
store = LocalStore() if kind == "local" else HostStore(testinfra.get_host("local://"))
lock = RunLock([LockLocation(root + "/.xcatha-run.lock", store, "shared storage via xcatmn1")],
               "root@test", "failover", "20261204T000000-failover")
said = []
for attempt in range(2):
    try:
        lock.acquire()
        said.append("acquired")
    except LockError as exc:
        said.append(str(exc))
    lock.break_lock()
print(json.dumps({"said": said, "left": sorted(os.listdir(root))}))
"""


def _in_full_tmpfs(tmp_path: Path, kind: str) -> dict:
    mount = tmp_path / "shared"
    mount.mkdir()
    script = ('mount -t tmpfs -o size=64k,mode=0755 xcatha-test-full "$1" || exit 97; '
              'cat /dev/zero > "$1/filler" 2>/dev/null; exec "$2" -c "$3" "$1" "$4"')  # fmt: skip
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(mount), sys.executable,
         FULL_PROBE, kind],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not os.path.ismount(mount)  # it lived only in the probe's own mount namespace
    result: dict = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("kind", ["local", "node"])
def test_a_full_storage_refuses_with_the_place_and_no_space_and_leaves_no_lock(tmp_path: Path, kind: str) -> None:
    result = _in_full_tmpfs(tmp_path, kind)
    lock_path = tmp_path / "shared" / ".xcatha-run.lock"
    # The retry after --break-lock says the same, never "not a lock file we can read ('')".
    assert result["said"] == [f"run lock {PLACE}:{lock_path}: cannot write it: No space left on device"] * 2
    assert result["left"] == ["filler"]  # no empty lock, no temporary file


def _stores() -> dict[str, LockStore]:
    return {"local": LocalStore(), "node": HostStore(testinfra.get_host("local://"))}


@pytest.mark.parametrize("kind", ["local", "node"])
def test_racing_runs_exactly_one_wins_and_every_lock_seen_is_whole(tmp_path: Path, kind: str) -> None:
    store = _stores()[kind]
    path = str(tmp_path / "lock" / "run.lock")
    results: list[str] = []
    seen: list[str | None] = []
    start = threading.Barrier(8)

    def race(n: int) -> None:
        lock = RunLock([LockLocation(path, store, "xcatmn1")], "root@test", "failover", f"run-{n}")
        start.wait()
        try:
            lock.acquire()
            results.append(lock.run_id)
        except LockHeld as exc:
            seen.append(exc.text)
            results.append("held")

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [r for r in results if r != "held"]
    assert len(results) == 8 and len(winners) == 1, results
    assert all(text is not None and LockInfo.from_text(text) is not None for text in seen), seen
    assert json.loads(Path(path).read_text())["run_id"] == winners[0]
    assert sorted(os.listdir(tmp_path / "lock")) == ["run.lock"]  # no temporary file left


@pytest.mark.parametrize("kind", ["local", "node"])
def test_rename_moves_and_says_when_the_file_was_gone(tmp_path: Path, kind: str) -> None:
    store = _stores()[kind]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert store.create_exclusive(a, "text\n")
    assert store.rename(a, b) is True
    assert store.read(a) is None and store.read(b) == "text\n"
    assert store.rename(a, b) is False


def _lock_text(run_id: str, pid: int = 1) -> str:
    return LockInfo("root@xcatmn1", "xcatmn1", pid, "failover", run_id, "2026-12-04T04:00:00+00:00").to_text()


def test_a_resume_of_a_resume_takes_over_every_lock_of_its_chain(tmp_path: Path) -> None:
    node1, node2, shared = MemoryStore(), MemoryStore(), LocalStore()
    shared_path = str(tmp_path / ".xcatha-run.lock")
    node1.files["/var/lib/xcatha/run.lock"] = _lock_text("run-A")  # A was killed before B ran
    node2.files["/var/lib/xcatha/run.lock"] = _lock_text("run-B")  # B took node2, then was killed
    Path(shared_path).write_text(_lock_text("run-B"))
    places = [LockLocation("/var/lib/xcatha/run.lock", node1, "xcatmn1"),
              LockLocation("/var/lib/xcatha/run.lock", node2, "xcatmn2"), LockLocation(shared_path, shared, PLACE)]
    lock = RunLock(places, "root@test", "failover", "run-C", takes_over=["run-A", "run-B"]).acquire()
    assert lock.taken_over == {"xcatmn1:/var/lib/xcatha/run.lock": "run-A", "xcatmn2:/var/lib/xcatha/run.lock": "run-B",
                               f"{PLACE}:{shared_path}": "run-B"}  # fmt: skip
    for store, path in ((node1, "/var/lib/xcatha/run.lock"), (node2, "/var/lib/xcatha/run.lock"),
                        (shared, shared_path)):  # fmt: skip
        info = LockInfo.from_text(store.read(path) or "")
        assert info is not None and info.run_id == "run-C"
    assert list(node1.files) == list(node2.files) == ["/var/lib/xcatha/run.lock"]  # nothing left aside
    assert sorted(os.listdir(tmp_path)) == [".xcatha-run.lock"]
    lock.release()
    assert node1.files == node2.files == {} and not Path(shared_path).exists()


def test_a_resume_never_takes_another_runs_lock(tmp_path: Path) -> None:
    node = MemoryStore()
    node.files["/run.lock"] = _lock_text("run-X", pid=os.getpid())
    with pytest.raises(LockHeld, match="run run-X"):
        RunLock([LockLocation("/run.lock", node, "xcatmn1")], "root@test", "failover", "run-C",
                takes_over=["run-A"]).acquire()  # fmt: skip
    assert node.files == {"/run.lock": _lock_text("run-X", pid=os.getpid())}


class SwappingStore(MemoryStore):
    """Another run's lock replaces the resumed run's between our read and our rename."""

    def rename(self, path: str, new_path: str) -> bool:
        self.files[path] = _lock_text("run-X", pid=os.getpid())
        return super().rename(path, new_path)


def test_a_lock_that_slipped_in_before_the_takeover_is_put_back_and_reported() -> None:
    node = SwappingStore()
    node.files["/run.lock"] = _lock_text("run-A")
    with pytest.raises(LockHeld, match="run run-X"):
        RunLock([LockLocation("/run.lock", node, "xcatmn1")], "root@test", "failover", "run-C",
                takes_over=["run-A"]).acquire()  # fmt: skip
    assert node.files == {"/run.lock": _lock_text("run-X", pid=os.getpid())}  # back in place, nothing aside


def test_a_failed_takeover_releases_what_was_taken(tmp_path: Path) -> None:
    first, second = MemoryStore(), MemoryStore()
    first.files["/run.lock"] = _lock_text("run-A")
    second.files["/run.lock"] = _lock_text("run-X", pid=os.getpid())
    places = [LockLocation("/run.lock", first, "xcatmn1"), LockLocation("/run.lock", second, "xcatmn2")]
    with pytest.raises(LockHeld):
        RunLock(places, "root@test", "failover", "run-C", takes_over=["run-A"]).acquire()
    assert first.files == {}  # A's lock was ours to take, and ours is released again: no run holds it now


def test_the_journal_records_the_chain_it_resumes(tmp_path: Path) -> None:
    a = Journal.create(tmp_path, "failover")
    assert a.to_dict()["resumed_from"] == []
    b = Journal.create(tmp_path, "failover", resumed_from=[a.run_id])
    c = Journal.create(tmp_path, "failover", resumed_from=[*Journal.load(b.path).resumed_from, b.run_id])
    assert Journal.load(c.path).resumed_from == [a.run_id, b.run_id]


def test_a_lock_error_is_an_xcatha_error_with_exit_status_1() -> None:
    assert LockError("x").exit_status == 1
