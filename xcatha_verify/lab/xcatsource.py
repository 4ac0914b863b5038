"""xCAT itself for the lab: the source tarball, checked, and /opt/xcat assembled from it as the RPMs lay it out.

xCAT is third-party test equipment like the Debian daemons: the lab unpacks and runs it, the project
never copies its code. The tarball is taken from ``$XCAT_SOURCE`` if set, else from the shared
folder beside the repository (``../shared/xcat-core/``); its sha256 must be the pinned one. With
neither, the pinned upstream commit is cloned (from ``$XCAT_UPSTREAM`` if set) and checked by its
commit id. The
assembled tree (perl-xCAT, xCAT-server and xCAT-client laid out as their spec files' %install does,
with the client commands' links and Version.pm stamped as perl-xCAT's %build does) is cached outside
any lab's state, keyed by the tarball's sha256 and the versions of the Debian Perl packages it runs
on; ``xcatha-lab cache clear`` removes it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xcatha_verify.errors import LabUnsupported

XCAT_VERSION = "2.19.0"
XCAT_COMMIT = "7733d16f8de0fc36b80638c04a7033931fa13304"
XCAT_SHA256 = "f25fa858add6c7ac265884ebfbb4450b84f6f13f6ee0e0d4d8d1a5839cec3d73"
XCAT_UPSTREAM = "https://github.com/xcat2/xcat-core"
DEFAULT_CACHE = "/var/cache/xcatha-lab"
# What xcatd and its commands need from Debian (xcat-core/README.md beside the tarball lists them).
PERL_PACKAGES = (
    "libdbi-perl", "libdbd-pg-perl", "libio-socket-ssl-perl", "libxml-simple-perl", "libxml-parser-perl",
    "libxml-libxml-perl", "libjson-perl", "libnet-dns-perl", "libsocket6-perl", "libio-socket-inet6-perl",
    "libcrypt-cbc-perl", "libcrypt-rijndael-perl", "libexpect-perl", "libsoap-lite-perl", "libnet-telnet-perl",
    "liblwp-protocol-https-perl",  # makegocons talks to goconserver's REST API with LWP (Goconserver.pm)
)  # fmt: skip
# xCAT-client.spec / xCAT-server.spec: `ln -sf TARGET $RPM_BUILD_ROOT/%{prefix}/bin|sbin/NAME`
_SPEC_LINK = re.compile(r"^\s*ln -sf (\S+) \$RPM_BUILD_ROOT/%\{prefix\}/((?:bin|sbin)/[^\s/]+)\s*$")


def repository_root() -> Path:
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Source:
    """Where the lab's xCAT comes from: a tarball checked by its sha256, or a clone checked by its commit."""

    path: Path
    kind: str  # "tarball" or "clone"
    checked: str  # what was checked, for people: "sha256 f25f...", "commit 7733d16..."

    @property
    def key(self) -> str:
        """What the assembled tree is keyed by: the pinned tarball's sha256, or the pinned commit."""
        return XCAT_SHA256 if self.kind == "tarball" else f"git{XCAT_COMMIT}"


def find_source() -> Source:
    """$XCAT_SOURCE, else ../shared/xcat-core/, else a clone of the pinned upstream commit.

    The clone comes from $XCAT_UPSTREAM if set (a site's own mirror), else upstream; it is kept in
    the cache and checked by its commit id (git checks every object against it); a tarball's sha256
    cannot apply to a clone. With none of them, one line (LabUnsupported, exit status 2).
    """
    tarball = _tarball()
    if tarball is not None:
        return Source(tarball, "tarball", f"sha256 {XCAT_SHA256[:16]}...")
    if os.environ.get("XCAT_SOURCE"):
        raise LabUnsupported(_none_found())
    return Source(_clone(), "clone", f"commit {XCAT_COMMIT[:12]}")


def _where() -> str:
    named = os.environ.get("XCAT_SOURCE")
    return f"XCAT_SOURCE={named}" if named else f"{shared_dir()}/xcat-core-*.tar.gz"


def _none_found(clone_failure: str = "") -> str:
    return (f"xcatha-lab needs the xCAT {XCAT_VERSION} source and found none at {_where()}{clone_failure}: set "
            f"XCAT_SOURCE to the xcat-core tarball ({XCAT_UPSTREAM} at {XCAT_COMMIT[:7]}, sha256 "
            f"{XCAT_SHA256[:12]}...)")  # fmt: skip


def shared_dir() -> Path:
    return Path(os.environ.get("XCATHA_SHARED", repository_root().parent / "shared")) / "xcat-core"


def _tarball() -> Path | None:
    named = os.environ.get("XCAT_SOURCE")
    candidates = [Path(named)] if named else sorted(shared_dir().glob("xcat-core-*.tar.gz"))
    if not candidates or not candidates[-1].is_file():
        return None
    tarball = candidates[-1]
    digest = sha256_of(tarball)
    if digest != XCAT_SHA256:
        raise LabUnsupported(f"{tarball}: sha256 {digest[:16]}... is not the pinned xCAT {XCAT_VERSION} "
                             f"({XCAT_SHA256[:16]}...); unset XCAT_SOURCE or point it at that tarball")  # fmt: skip
    return tarball


def _clone() -> Path:
    """The pinned commit, cloned once into the cache; LabUnsupported (one line) when it cannot be had."""
    commit = XCAT_COMMIT
    target = cache_root() / f"clone-{commit[:12]}"
    if _head(target) == commit:
        return target
    url = os.environ.get("XCAT_UPSTREAM", XCAT_UPSTREAM)
    if shutil.which("git") is None:
        raise LabUnsupported(_none_found(f", and cannot clone {url} without git (apt-get install git)"))
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix=".cloning-") as work:
        tree = Path(work) / "src"
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never ask for credentials: fail instead
        for argv in (["git", "clone", "--quiet", "--no-checkout", "--", url, str(tree)],
                     ["git", "-C", str(tree), "checkout", "--quiet", "--detach", commit]):  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
            if proc.returncode != 0:
                said = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
                raise LabUnsupported(_none_found(f", and cloning {url} at {commit[:12]} failed ({said})"))
        if _head(tree) != commit:
            raise LabUnsupported(f"the clone of {url} is at {_head(tree)[:12]}, not the pinned {commit[:12]}")
        shutil.rmtree(target, ignore_errors=True)
        tree.rename(target)  # whole or not at all
    return target


def _head(tree: Path) -> str:
    if not (tree / ".git").exists():
        return ""
    proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def perl_versions() -> str:
    """The installed versions of the Perl packages, one line each ("missing" when not installed)."""
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version} ${Status}\n", *PERL_PACKAGES],
                          capture_output=True, text=True, check=False)  # fmt: skip
    found = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()
             if line.endswith("install ok installed")}  # fmt: skip
    missing = [p for p in PERL_PACKAGES if p not in found]
    if missing:
        raise LabUnsupported(f"xcatha-lab needs Debian packages for xCAT: {' '.join(missing)} "
                             "(run: bash scripts/setup.sh)")  # fmt: skip
    return "".join(f"{p} {found[p]}\n" for p in PERL_PACKAGES)


def cache_root() -> Path:
    """Where assembled trees are kept: $XCATHA_LAB_CACHE, else /var/cache/xcatha-lab (never a lab's state)."""
    return Path(os.environ.get("XCATHA_LAB_CACHE", DEFAULT_CACHE))


ASSEMBLY = "2"  # bumped when _assemble lays the tree out differently


def cache_key(source_key: str, perl: str) -> str:
    perl_key = hashlib.sha256(f"{ASSEMBLY}\n{perl}".encode()).hexdigest()[:12]
    return f"xcat-{XCAT_VERSION}-{source_key[:12]}-{perl_key}"


@functools.cache  # once per process: the sha256 of the tarball and dpkg-query are not free
def assembled_tree() -> Path:
    """/opt/xcat for the nodes, from the cache (assembled on first use)."""
    source = find_source()
    root = cache_root()
    target = root / cache_key(source.key, perl_versions()) / "opt-xcat"
    if (target / "lib/perl/xCAT/Version.pm").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".assembling-") as work:
        if source.kind == "tarball":
            unpacked = Path(work) / "src"
            with tarfile.open(source.path) as archive:
                archive.extractall(unpacked, filter="data")
            tops = [p for p in unpacked.iterdir() if p.is_dir()]
            top = tops[0] if len(tops) == 1 else unpacked
        else:
            top = source.path
        built = Path(work) / "opt-xcat"
        _assemble(top, built)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        built.rename(target)  # whole or not at all: a killed assembly leaves only its temporary directory
    return target


def _copy_into(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)


def _assemble(src: Path, dst: Path) -> None:
    """perl-xCAT.spec, xCAT-server.spec and xCAT-client.spec %install, for prefix /opt/xcat."""
    perl = dst / "lib/perl"
    _copy_into(src / "perl-xCAT/xCAT", perl / "xCAT")
    _copy_into(src / "xCAT-server/lib/perl/xCAT", perl / "xCAT")
    _copy_into(src / "xCAT-server/lib/xcat/plugins", perl / "xCAT_plugin")
    _copy_into(src / "xCAT-server/lib/xcat/monitoring", perl / "xCAT_monitoring")
    _copy_into(src / "xCAT-server/lib/xcat/schema", perl / "xCAT_schema")
    _copy_into(src / "xCAT-server/lib/xcat/Confluent", perl / "Confluent")
    (dst / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "xCAT-server/lib/xcat/shfunctions", dst / "lib/shfunctions")
    for tree in ("sbin", "bin"):
        _copy_into(src / "xCAT-server" / tree, dst / tree)
        _copy_into(src / "xCAT-client" / tree, dst / tree)
    _copy_into(src / "xCAT-server/share/xcat", dst / "share/xcat")
    # xCAT-server.spec installs this one at /usr/lib/systemd/system; the lab's nodes get it from here.
    shutil.copy2(src / "xCAT-server/etc/init.d/xcatd.service", dst / "share/xcat/xcatd.service")
    for spec in (src / "xCAT-client/xCAT-client.spec", src / "xCAT-server/xCAT-server.spec"):
        for line in spec.read_text(errors="replace").splitlines():
            match = _SPEC_LINK.match(line)
            if match and not (dst / match.group(2)).exists():
                (dst / match.group(2)).parent.mkdir(parents=True, exist_ok=True)
                (dst / match.group(2)).symlink_to(match.group(1))
    # perl-xCAT.spec %build: ./modifyUtils VERSION GITINFO (else `lsxcatd -a` prints a bare "Version ").
    version_pm = perl / "xCAT/Version.pm"
    text = version_pm.read_text()
    text = text.replace("#XCATVERSIONSUBHERE", f". '{XCAT_VERSION}'")
    text = text.replace("#XCATSVNBUILDSUBHERE", f". ' (git commit {XCAT_COMMIT[:7]})'")
    version_pm.write_text(text)
    for path in [dst, *dst.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))


def cached() -> list[Path]:
    root = cache_root()
    return sorted([*root.glob("xcat-*"), *root.glob("clone-*")]) if root.is_dir() else []


def clear_cache() -> list[Path]:
    assembled_tree.cache_clear()
    removed = cached()
    for path in removed:
        shutil.rmtree(path)
    return removed
