"""The xCAT source for the lab: found, checked by its sha256, assembled as the RPMs lay it out, cached."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xcatha_verify.errors import LabUnsupported
from xcatha_verify.lab import xcatsource

LAB = str(Path(sys.executable).parent / "xcatha-lab")
SHARED_TARBALLS = sorted((xcatsource.repository_root().parent / "shared" / "xcat-core").glob("xcat-core-*.tar.gz"))


def test_a_missing_source_is_one_line_naming_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XCAT_SOURCE", str(tmp_path / "none.tar.gz"))
    with pytest.raises(LabUnsupported, match=r"found none at XCAT_SOURCE=.*none\.tar\.gz"):
        xcatsource.find_source()
    proc = subprocess.run([LAB, "cache", "show"], capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "XCAT_SOURCE": str(tmp_path / "none.tar.gz")})  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "XCAT_SOURCE" in proc.stderr and "Traceback" not in proc.stderr


def test_a_tarball_with_another_sha256_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "xcat-core-2.19.0.tar.gz"
    other.write_bytes(b"not the pinned xCAT")
    monkeypatch.setenv("XCAT_SOURCE", str(other))
    with pytest.raises(LabUnsupported, match=r"is not the pinned xCAT 2\.19\.0"):
        xcatsource.find_source()


@pytest.mark.skipif(not SHARED_TARBALLS, reason="no xCAT tarball in ../shared/xcat-core")
def test_the_shared_tarball_assembles_as_the_rpms_lay_it_out_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XCAT_SOURCE", raising=False)
    monkeypatch.setenv("XCATHA_LAB_CACHE", str(tmp_path / "cache"))
    xcatsource.assembled_tree.cache_clear()  # another test in this process may have assembled it elsewhere
    assert xcatsource.find_source().path == SHARED_TARBALLS[-1]
    tree = xcatsource.assembled_tree()
    assert tree.is_relative_to(tmp_path / "cache")
    # xCAT-client.spec's links: the table commands are xcatDBcmds, the make* commands xcatclient.
    assert (tree / "bin/lsdef").readlink() == Path("../bin/xcatDBcmds")
    assert (tree / "sbin/makedhcp").readlink() == Path("../bin/xcatclient")
    assert (tree / "bin/xcatDBcmds").is_file() and (tree / "sbin/xcatd").is_file()
    assert (tree / "lib/perl/xCAT_plugin/DBobjectdefs.pm").is_file()
    # perl-xCAT.spec's %build stamps the version, else `lsxcatd -a` prints a bare "Version ".
    assert "'2.19.0'" in (tree / "lib/perl/xCAT/Version.pm").read_text()
    marker = tree / ".seen"
    marker.touch()
    xcatsource.assembled_tree.cache_clear()  # the process's memo forgotten: the disk cache must serve
    assert xcatsource.assembled_tree() == tree and marker.exists()  # the cache is used, not rebuilt
    assert [p.name for p in xcatsource.cached()] == [tree.parent.name]
    assert xcatsource.clear_cache() == [tree.parent]
    assert xcatsource.cached() == []


def test_setup_installs_every_perl_package_xcat_needs() -> None:
    setup = (xcatsource.repository_root() / "scripts/setup.sh").read_text()
    listed = setup.split("PACKAGES=(", 1)[1].split("\n)", 1)[0]
    words = {word for line in listed.splitlines() for word in line.split("#", 1)[0].split()}
    assert set(xcatsource.PERL_PACKAGES) <= words


def _git(*argv: str, cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    return subprocess.run(["git", *argv], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def no_tarball(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither XCAT_SOURCE nor a shared tarball: the clone is the source left. Returns the cache."""
    monkeypatch.delenv("XCAT_SOURCE", raising=False)
    (tmp_path / "shared" / "xcat-core").mkdir(parents=True)
    monkeypatch.setenv("XCATHA_SHARED", str(tmp_path / "shared"))
    monkeypatch.setenv("XCATHA_LAB_CACHE", str(tmp_path / "cache"))
    xcatsource.assembled_tree.cache_clear()
    return tmp_path / "cache"


def test_without_a_tarball_a_failed_clone_is_one_line_naming_the_url(no_tarball: Path, tmp_path: Path) -> None:
    url = f"file://{tmp_path}/no-such-mirror"
    proc = subprocess.run([LAB, "cache", "show"], capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "XCATHA_SHARED": str(tmp_path / "shared"),
                               "XCATHA_LAB_CACHE": str(no_tarball), "XCAT_UPSTREAM": url})  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert f"cloning {url} at {xcatsource.XCAT_COMMIT[:12]} failed" in proc.stderr
    assert not list(no_tarball.glob("clone-*"))  # nothing half-made is kept


def test_a_mirror_without_the_pinned_commit_is_refused(
    no_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _git("init", "-q", cwd=mirror)
    (mirror / "README").write_text("not xCAT\n")
    _git("add", "README", cwd=mirror)
    _git("commit", "-q", "-m", "other", cwd=mirror)
    monkeypatch.setenv("XCAT_UPSTREAM", str(mirror))
    with pytest.raises(LabUnsupported, match=rf"cloning {mirror} at {xcatsource.XCAT_COMMIT[:12]} failed"):
        xcatsource.find_source()


@pytest.mark.skipif(not SHARED_TARBALLS, reason="no xCAT tarball in ../shared/xcat-core")
def test_a_clone_of_the_pinned_commit_is_checked_assembled_and_kept(
    no_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mirror made from the shared tarball; its commit id is then "the pinned one" (upstream's own
    # history cannot be made here: no network).
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    subprocess.run(["tar", "-xzf", str(SHARED_TARBALLS[-1]), "-C", str(mirror), "--strip-components=1"], check=True)
    _git("init", "-q", cwd=mirror)
    _git("add", "-A", cwd=mirror)
    _git("commit", "-q", "-m", "xcat-core", cwd=mirror)
    commit = _git("rev-parse", "HEAD", cwd=mirror)
    monkeypatch.setattr(xcatsource, "XCAT_COMMIT", commit)
    monkeypatch.setenv("XCAT_UPSTREAM", str(mirror))
    source = xcatsource.find_source()
    assert (source.kind, source.checked) == ("clone", f"commit {commit[:12]}")
    assert source.path == no_tarball / f"clone-{commit[:12]}"
    tree = xcatsource.assembled_tree()
    assert (tree / "bin/lsdef").readlink() == Path("../bin/xcatDBcmds") and (tree / "sbin/xcatd").is_file()
    assert tree.parent.name.startswith(f"xcat-{xcatsource.XCAT_VERSION}-git{commit[:9]}")
    # Kept: without the mirror the clone in the cache still serves, checked by its commit again.
    subprocess.run(["rm", "-rf", str(mirror)], check=True)
    assert xcatsource.find_source().path == source.path
    # Another pinned commit: the kept clone is not it, and is not used.
    monkeypatch.setattr(xcatsource, "XCAT_COMMIT", "0" * 40)
    with pytest.raises(LabUnsupported, match="cloning"):
        xcatsource.find_source()
    assert {p.name for p in xcatsource.cached()} == {tree.parent.name, source.path.name}
