"""The shared data as xCAT's one-time set-up left it, kept between labs.

`xcatsetup.initialise` (xcatconfig -c and -d, the site and networks rows, the compute nodes) takes
about 14 s of a lab's build and gives the same result for the same xCAT tree and the same
addresses. So the first lab of a layout keeps what it made: the shared storage (PostgreSQL's data
directory, /etc/xcat with xCAT's CA and certificates, /root/.xcat, /install) and the node-local
files xCAT's set-up leaves (the /etc/hosts of `makehosts`, the conserver user's client credentials),
as one tar file beside the assembled /opt/xcat tree. A later lab of that layout unpacks it before
its nodes boot, gives xCAT's database role a password of its own and writes its own cfgloc and
storage id: those two never enter the snapshot.

The key covers what the result depends on: the assembled tree (its directory is keyed by the
tarball's sha256 and the Perl packages' versions), the lab's addresses and VIP label, and the code
that makes the set-up (this module, xcatsetup.py, database.py). `xcatha-lab cache clear` removes
snapshots with the trees.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xcatha_verify.lab import xcatsource
from xcatha_verify.lab.layout import COMPUTE_NODES, DOMAIN, NODE_NAMES, PROBE_FILE, LabLayout

FORMAT = "1"
# Per lab, never kept: the database password (in cfgloc) and the storage's identity.
PER_LAB = ("etc-xcat/cfgloc", "etc-xcat/.xcatha-storage-id", "etc-xcat/console.lock",
           f"install/{PROBE_FILE}", f"tftpboot/{PROBE_FILE}")  # fmt: skip
SHARED_PREFIX = "shared/"
NODE_PREFIX = "node/"
# What xCAT's set-up leaves on the node it ran on that the other node needs as well: on a site both
# nodes had xCAT installed, and xcatconfig made the conserver user's credentials on each.
NODE_FILES = ("/etc/hosts", "/home/conserver/.xcat")
_SOURCES = ("snapshot.py", "xcatsetup.py", "database.py")


@dataclass(frozen=True)
class NodeFiles:
    """Node-local files from xCAT's set-up: path in the node -> (mode, content)."""

    files: dict[str, tuple[int, bytes]]


def path_for(layout: LabLayout) -> Path:
    here = Path(__file__).parent
    material = {
        "format": FORMAT,
        "subnet": str(layout.subnet), "interface": layout.interface, "label": layout.label,
        "nodes": [str(layout.static_ip(n)) for n in NODE_NAMES], "domain": DOMAIN,
        "compute": [list(map(str, c)) for c in COMPUTE_NODES],
        "code": [hashlib.sha256((here / name).read_bytes()).hexdigest() for name in _SOURCES],
    }  # fmt: skip
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
    return xcatsource.assembled_tree().parent / f"initialised-{key}.tar"


def _kept(member: tarfile.TarInfo) -> bool:
    return member.name.removeprefix(SHARED_PREFIX) not in PER_LAB


def save(layout: LabLayout, node_files: NodeFiles, target: Path) -> None:
    """Keep the lab's shared data and the set-up node's files (`read_node_files`), atomically."""
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".snapshot-", delete=False) as raw:
        try:
            with tarfile.open(fileobj=raw, mode="w") as archive:
                for entry in sorted(layout.shared.iterdir()):
                    archive.add(entry, f"{SHARED_PREFIX}{entry.name}",
                                filter=lambda m: m if _kept(m) else None)  # fmt: skip
                for path, (mode, data) in sorted(node_files.files.items()):
                    member = tarfile.TarInfo(f"{NODE_PREFIX}{path.lstrip('/')}")
                    member.mode, member.size = mode, len(data)
                    archive.addfile(member, io.BytesIO(data))
            os.chmod(raw.name, 0o600)  # it holds xCAT's CA key
            os.replace(raw.name, target)  # whole or not at all, also with two labs saving at once
        except BaseException:
            Path(raw.name).unlink(missing_ok=True)
            raise


def restore_shared(layout: LabLayout, source: Path) -> NodeFiles:
    """Unpack the kept shared data onto the lab's storage; returns the node files to install."""
    node_files: dict[str, tuple[int, bytes]] = {}
    with tarfile.open(source) as archive:
        shared = [m for m in archive.getmembers() if m.name.startswith(SHARED_PREFIX) and _kept(m)]
        for member in shared:
            member.name = member.name.removeprefix(SHARED_PREFIX)
        # Owners kept by number: PostgreSQL's data directory must stay postgres's (the nodes share the
        # machine's users, their roots being overlays of it).
        archive.extractall(layout.shared, members=shared, numeric_owner=True, filter="tar")
        for member in archive.getmembers():
            if member.isfile() and member.name.startswith(NODE_PREFIX):
                data = archive.extractfile(member)
                assert data is not None  # a regular file always has data
                node_files["/" + member.name.removeprefix(NODE_PREFIX)] = (member.mode, data.read())
    return NodeFiles(node_files)


def read_node_files(node_root: Path) -> NodeFiles:
    """The set-up node's files, as `restore_shared` returns them from a snapshot."""
    found: dict[str, tuple[int, bytes]] = {}
    for path in NODE_FILES:
        top = node_root / path.lstrip("/")
        for each in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if each.is_file():
                found["/" + str(each.relative_to(node_root))] = (each.stat().st_mode & 0o777, each.read_bytes())
    return NodeFiles(found)

