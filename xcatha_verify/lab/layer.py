"""A node's kept layer (the overlay's upper directory), written while the node is off.

Files land where the node will see them; a directory created on the way takes the owner and mode
the machine's own copy has (the overlay's lower layer), so /var/named stays bind's and /etc stays
0755. Once the node runs, its files are written through its PID 1's root instead (an overlay's
upper directory must not change under a mounted overlay).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class Layer:
    def __init__(self, upper: Path) -> None:
        self.upper = upper
        upper.mkdir(parents=True, exist_ok=True)

    def path(self, node_path: str) -> Path:
        return self.upper / node_path.lstrip("/")

    def _parents(self, node_path: str) -> None:
        parts = Path(node_path).parent.parts[1:]
        for depth in range(1, len(parts) + 1):
            rel = Path(*parts[:depth])
            target = self.upper / rel
            if target.is_dir():
                continue
            lower = Path("/") / rel
            target.mkdir()
            if lower.is_dir() and not lower.is_symlink():
                st = lower.stat()
                os.chown(target, st.st_uid, st.st_gid)
                target.chmod(st.st_mode & 0o7777)

    def mkdir(self, node_path: str, owner: str | None = None, mode: int | None = None) -> None:
        """A directory; owner and mode default to the machine's copy (root and 0755 without one)."""
        self._parents(node_path + "/x")
        target = self.path(node_path)
        if owner is not None:
            shutil.chown(target, owner, owner)
        if mode is not None:
            target.chmod(mode)

    def write(self, node_path: str, text: str, mode: int = 0o644, owner: str = "root") -> None:
        self._parents(node_path)
        target = self.path(node_path)
        target.write_text(text)
        target.chmod(mode)
        shutil.chown(target, owner, owner)

    def symlink(self, node_path: str, points_to: str) -> None:
        self._parents(node_path)
        target = self.path(node_path)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(points_to)

    def opaque_dir(self, node_path: str) -> None:
        """A directory that hides the machine's copy of it (the machine's enablement links, say)."""
        self._parents(node_path + "/x")
        os.setxattr(self.path(node_path), "trusted.overlay.opaque", b"y")
