"""Lock files on a node, through its testinfra host (the LockStore protocol of lock.py)."""

from __future__ import annotations

import shlex

from testinfra.host import Host

from xcatha_verify.runbook_engine.lock import LockError


class HostStore:
    """read / create-exclusive / remove of small files on a node, each one command over its connection."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, path: str) -> str | None:
        result = self.host.run("if [ -e %s ]; then cat -- %s; else exit 3; fi", path, path)
        if result.rc == 3:
            return None
        if result.rc != 0:
            raise LockError(f"cannot read {path}: {result.stderr.strip()}")
        return result.stdout

    def create_exclusive(self, path: str, text: str) -> bool:
        # noclobber makes the shell's O_EXCL create: exactly one of two racing runs wins (exit 3).
        quoted = shlex.quote(path)
        script = (f'mkdir -p -- "$(dirname -- {quoted})" || exit 4; [ -e {quoted} ] && exit 3; '
                  f"set -C; umask 077; cat > {quoted} 2>/dev/null || {{ [ -e {quoted} ] && exit 3; exit 4; }}")
        result = self.host.run(f"printf %s {shlex.quote(text)} | sh -c {shlex.quote(script)}")
        if result.rc == 3:
            return False
        if result.rc != 0:
            raise LockError(f"cannot create {path}: {(result.stderr or result.stdout).strip() or result.rc}")
        return True

    def remove(self, path: str) -> None:
        result = self.host.run("rm -f -- %s", path)
        if result.rc != 0:
            raise LockError(f"cannot remove {path}: {result.stderr.strip()}")
