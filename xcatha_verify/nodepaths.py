"""Where xcatha-verify keeps its own files on the management nodes, and the Python it runs there.

Everything the checks, runbooks and locks read or write on a node outside xCAT's and the
services' own files is named here once.
"""

from __future__ import annotations

import sys

# In the first shared path: the storage's id, written once by the pair's set-up.
STORAGE_ID_FILE = ".xcatha-storage-id"
# Each node's copy of that id, taken while the node had the shared data connected.
STORAGE_RECORD = "/var/lib/xcatha/storage-id"
# A run's lock on each node, and on the shared storage (in its first path).
NODE_LOCK = "/var/lib/xcatha/run.lock"
SHARED_LOCK_FILE = ".xcatha-run.lock"
# Which console server the pair runs, as xcatha.py records it at deactivation.
CONSOLE_LOCK = "/etc/xcat/console.lock"


def storage_id_path(first_shared: str) -> str:
    """The storage id's path under the first shared path."""
    return f"{first_shared.rstrip('/')}/{STORAGE_ID_FILE}"


def shared_lock_path(first_shared: str) -> str:
    return f"{first_shared.rstrip('/')}/{SHARED_LOCK_FILE}"


def node_python() -> str:
    """The Python that has xcatha-verify on the nodes: this one's path (the same installation on both
    management nodes), for the helpers run there (`-m xcatha_verify.vip`, `.arp`)."""
    return sys.executable
