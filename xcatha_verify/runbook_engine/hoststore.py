"""Lock files on a node, through its testinfra host (the LockStore protocol of lock.py)."""

from __future__ import annotations

import shlex

from testinfra.host import Host

from xcatha_verify.runbook_engine.lock import LockStoreError

# Exit 3: the name exists. Exit 4: a failure, ssh's stderr carries the tool's message. The text comes on
# stdin into a temporary file beside the lock, which `ln` then names: the lock appears complete or not at
# all (a full filesystem leaves no empty lock), and `ln` fails on any existing name, so of two racing runs
# exactly one wins.
_CREATE = r"""
p=$1; d=$(dirname -- "$p")
[ -e "$p" ] || [ -L "$p" ] && exit 3
mkdir -p -- "$d" || exit 4
t=$(mktemp -- "$d/.xcatha-lock.XXXXXX") || exit 4
trap 'rm -f -- "$t"' EXIT
trap 'exit 4' HUP INT TERM
cat > "$t" || exit 4
sync -- "$t" 2>/dev/null
err=$(ln -- "$t" "$p" 2>&1) && exit 0
[ -e "$p" ] || [ -L "$p" ] && exit 3
printf '%s\n' "$err" >&2
exit 4
"""
_RENAME = 'if [ -e "$1" ]; then mv -f -- "$1" "$2" || exit 4; else exit 3; fi'


def _reason(stderr: str, rc: int) -> str:
    """The OS's words from the tool's last message line (``cat: write error: No space left on device``)."""
    lines = stderr.strip().splitlines()
    return lines[-1].rsplit(": ", 1)[-1] if lines else f"exit status {rc}"


class HostStore:
    """read / create-exclusive / rename / remove of small files on a node, each one command over its connection."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def read(self, path: str) -> str | None:
        result = self.host.run("if [ -e %s ]; then cat -- %s; else exit 3; fi", path, path)
        if result.rc == 3:
            return None
        if result.rc != 0:
            raise LockStoreError(path, "read", _reason(result.stderr, result.rc))
        return result.stdout

    def create_exclusive(self, path: str, text: str) -> bool:
        # Built with shlex.quote and no format arguments: testinfra would %-format the text otherwise.
        command = f"printf %s {shlex.quote(text)} | sh -c {shlex.quote(_CREATE)} sh {shlex.quote(path)}"
        result = self.host.run(command)
        if result.rc == 3:
            return False
        if result.rc != 0:
            raise LockStoreError(path, "write", _reason(result.stderr, result.rc))
        return True

    def rename(self, path: str, new_path: str) -> bool:
        result = self.host.run("sh -c %s sh %s %s", _RENAME, path, new_path)
        if result.rc == 3:
            return False
        if result.rc != 0:
            raise LockStoreError(path, "rename", _reason(result.stderr, result.rc))
        return True

    def remove(self, path: str) -> None:
        result = self.host.run("rm -f -- %s", path)
        if result.rc != 0:
            raise LockStoreError(path, "remove", _reason(result.stderr, result.rc))
