"""Lock files on a node, through its testinfra host (the LockStore protocol of lock.py)."""

from __future__ import annotations

import shlex

from testinfra.host import Host


class HostStore:
    """read / create-exclusive / remove of small files on a node, each one command over its connection."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, path: str) -> str | None:
        result = self.host.run("cat -- %s", path)
        return result.stdout if result.rc == 0 else None

    def create_exclusive(self, path: str, text: str) -> bool:
        # noclobber makes the shell's O_EXCL create: exactly one of two racing runs wins.
        script = f'mkdir -p -- "$(dirname -- {shlex.quote(path)})" && set -C && umask 077 && cat > {shlex.quote(path)}'
        result = self.host.run(f"printf %s {shlex.quote(text)} | sh -c {shlex.quote(script)}")
        return result.rc == 0

    def remove(self, path: str) -> None:
        self.host.run("rm -f -- %s", path)
