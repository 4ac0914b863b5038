"""Running commands on the machine and inside lab nodes (argument lists only, never a shell string)."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from xcatha_verify.errors import LabError

log = logging.getLogger(__name__)

# What a login on a node sees: xCAT's commands as /etc/profile.d/xcat.sh adds them.
NODE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/xcat/bin:/opt/xcat/sbin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": os.environ.get("TERM", "dumb"),
}


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and raise LabError naming it when it fails."""
    log.debug("run: %s", " ".join(argv))
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env=dict(env) if env is not None else None,
            input=input_text,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{argv[0]} timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {detail[-1] if detail else ''}")
    return proc


def in_node_argv(pid: int, argv: Sequence[str]) -> list[str]:
    """The argv that runs `argv` inside the node whose init has machine PID `pid`."""
    return [
        "nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--pid", "--ipc", "--cgroup", "--root", "--wd",
        "--", "env", "-i", *(f"{k}={v}" for k, v in NODE_ENV.items()), *argv,
    ]  # fmt: skip


def node_path(pid: int, path: str) -> Path:
    """A node's file as the machine can reach it (through the node init's root)."""
    return Path(f"/proc/{pid}/root") / path.lstrip("/")




def netns_list() -> list[str]:
    netns_dir = Path("/run/netns")
    return [p.name for p in netns_dir.iterdir()] if netns_dir.is_dir() else []
