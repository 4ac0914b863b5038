"""The shared storage's token: its format, how a stale or foreign storage is told apart, and `stamp` on
this machine's real mounts (findmnt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xcatha_verify import storage
from xcatha_verify.facts.system import FINDMNT_ARGV, Mount, parse_findmnt
from xcatha_verify.storage import StorageError, StorageToken, first_token, older_than_recorded, parse_token


def _token(generation: int, token: str, **kw: object) -> StorageToken:
    return StorageToken("s-1", generation, token, **kw)  # type: ignore[arg-type]


def test_a_token_reads_back_as_written_and_the_old_bare_id_reads_as_activation_0() -> None:
    written = _token(3, "t-3", node="xcatmn2", written="2026-12-03T12:00:00+00:00",
                     mounts={"/etc/xcat": "nfs1:/export/etc-xcat (nfs4)", "/install": "UUID=ab-cd[/install] (xfs)"})
    assert parse_token(written.render()) == written
    assert parse_token("b9ce9d06\n") == StorageToken("b9ce9d06", 0, "b9ce9d06")
    assert parse_token("") is None and parse_token(None) is None and parse_token("# only a comment\n") is None
    with pytest.raises(StorageError, match="no valid 'generation'"):
        parse_token("storage=s-1\ntoken=t\n")
    with pytest.raises(StorageError, match="not a storage token"):
        parse_token("hello world\nsecond line\n")


@pytest.mark.parametrize(
    ("recorded", "problem"),
    [
        (_token(2, "t-2"), None),  # the peer recorded the very activation the storage carries
        (_token(1, "t-1"), None),  # an older one: the storage moved on since (activated again)
        (_token(3, "t-3"), "xcatmn1 recorded activation 3; this storage carries only activation 2: an older copy"),
        (_token(2, "t-x"), "recorded activation 2 with another token: a copy of the shared data activated apart"),
        (StorageToken("s-2", 1, "t"), "xcatmn1 recorded storage s-2; this one is s-1: another storage"),
    ],
)
def test_the_storage_is_judged_against_what_a_node_recorded(recorded: StorageToken, problem: str | None) -> None:
    found = older_than_recorded(_token(2, "t-2"), recorded, "xcatmn1")
    assert found == problem or (problem is not None and found is not None and problem in found), found


def test_identity_names_a_filesystem_as_both_nodes_would() -> None:
    # A block device by UUID (its /dev name may differ between the nodes), with the directory bound.
    bound = Mount("/etc/xcat", "/dev/sdb1[/xcat]", "xfs", "ab-cd", "/xcat")
    assert storage.identity(bound) == "UUID=ab-cd[/xcat] (xfs)"
    assert storage.identity(Mount("/install", "/dev/sdc", "ext4", "ef-01", "/")) == "UUID=ef-01 (ext4)"
    assert storage.identity(Mount("/install", "nfs1:/export/install", "nfs4")) == "nfs1:/export/install (nfs4)"
    carried = _token(2, "t-2", mounts={"/install": "nfs1:/export/install (nfs4)", "/tftpboot": "nfs1:/tftp (nfs4)"})
    now = {"/install": Mount("/install", "overlay[/root/copy]", "overlay"),
           "/tftpboot": Mount("/tftpboot", "nfs1:/tftp", "nfs4")}
    assert storage.moved_mounts(carried, now, ["/install", "/tftpboot", "/etc/xcat"]) == {
        "/install": "/install is overlay[/root/copy] (overlay); activation 2 had nfs1:/export/install (nfs4) there"}


def test_stamp_claims_the_storage_on_real_mounts_and_never_an_unmarked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "node" / "storage-id"
    monkeypatch.setattr(storage, "STORAGE_RECORD", str(record))
    shared = tmp_path / "etc-xcat"
    shared.mkdir()
    root = parse_findmnt(subprocess.run(FINDMNT_ARGV, capture_output=True, text=True, check=True).stdout)
    with pytest.raises(StorageError, match=r"no storage token in .*xcatha-run prepare writes its first token"):
        storage.stamp("xcatmn2", str(shared), ["/"])
    assert not record.exists()
    # prepare: the first token, and a second run leaves it.
    assert "activation 1 by xcatmn1" in storage.stamp("xcatmn1", str(shared), ["/"], set_up=True)
    first = parse_token((shared / ".xcatha-storage-id").read_text())
    assert first is not None and first.mounts == {"/": storage.identity(root["/"])}
    assert "left as it is" in storage.stamp("xcatmn1", str(shared), ["/"], set_up=True)
    # An activation: the next count, a fresh token, the same on the storage and in the node's record.
    storage.stamp("xcatmn2", str(shared), ["/"])
    second = parse_token((shared / ".xcatha-storage-id").read_text())
    assert second is not None and (second.storage, second.generation, second.node) == (first.storage, 2, "xcatmn2")
    assert second.token != first.token and parse_token(record.read_text()) == second
    with pytest.raises(StorageError, match=f"not mounted: {tmp_path}"):
        storage.stamp("xcatmn2", str(shared), [str(tmp_path)])


def test_the_node_helper_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "xcatha_verify.storage", "stamp", "xcatmn2", str(tmp_path), "/"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith(f"error: no storage token in {tmp_path}/.xcatha-storage-id") and \
        proc.stderr.count("\n") == 1, proc.stderr
    usage = subprocess.run([sys.executable, "-m", "xcatha_verify.storage"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_a_first_token_is_the_same_wherever_it_is_written() -> None:
    assert first_token("s-9").token == first_token("s-9").token == "s-9"
    assert first_token().storage != first_token().storage


def test_a_declared_source_matches_as_findmnt_prints_it_or_by_uuid() -> None:
    bound = Mount("/var/lib/pgsql", "/dev/sdb1[/ha/pgsql]", "xfs", "3F1C-AA", "/ha/pgsql")
    assert storage.source_matches("/dev/sdb1[/ha/pgsql]", bound)
    assert storage.source_matches("UUID=3f1c-aa", bound) and storage.source_matches("UUID=3f1c-aa[/ha/pgsql]", bound)
    assert not storage.source_matches("UUID=3f1c-aa[/other]", bound)
    assert not storage.source_matches("/dev/sdc1[/ha/pgsql]", bound)
    assert storage.source_matches("nfs1:/x", Mount("/install", "nfs1:/x", "nfs4"))
    # What mount takes, quoted; a bind mount's findmnt form it does not take: from fstab then.
    assert storage.mount_command("nfs1:/x", "/install") == "mount nfs1:/x /install"
    assert storage.mount_command("UUID=3f1c-aa", "/install") == "mount UUID=3f1c-aa /install"
    assert storage.mount_command("/dev/sdb1[/ha]", "/install") == "mount /install"
    assert storage.mount_command(None, "/install") == "mount /install"
