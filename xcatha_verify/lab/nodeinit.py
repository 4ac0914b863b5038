"""PID 1 of a lab node.

Started by the lab as ``ip netns exec NS unshare --mount --uts --pid --fork python -m
xcatha_verify.lab.nodeinit ...``: it already runs in the node's own network, mount, UTS and
PID namespaces. It gives the node a private root (an overlay of the machine's root file system
with a per-node writable layer on the lab's tmpfs), its own /proc, /run and /tmp, chroots into
it, records its PID as the machine sees it, then reaps orphans until it is killed. Killing it
ends every process in the node (the kernel kills a PID namespace with its init) and drops every
mount made inside the node (the mount namespace dies with its last process).

Test equipment: nothing here runs on a real management node.
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import socket
import subprocess
import sys
from pathlib import Path

# Per-node run-time directories: owner and mode, as the Debian packages expect them.
RUN_DIRS: dict[str, tuple[str, int]] = {
    "systemd/system": ("root", 0o755),  # testinfra picks its systemd backend when this exists
    "sshd": ("root", 0o755),
    "postgresql": ("postgres", 0o2775),
    "chrony": ("_chrony", 0o750),  # chronyd refuses its command socket otherwise
    "named": ("bind", 0o775),
    "dhcp-server": ("root", 0o755),
    "conserver": ("root", 0o755),
    "lock": ("root", 0o755),
    "xcatha-ssh": ("root", 0o700),  # ssh ControlMaster sockets of xcatha-verify run on the node
}


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _prepare_root(root: Path, upper: Path, work: Path, binds: list[str]) -> None:
    _mount("-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={upper},workdir={work}", str(root))
    # The node's systemd sees only the lab's units; enablement links live as long as the node.
    for units in ("etc/systemd/system", "usr/lib/systemd/system"):
        (root / units).mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=0755", "units", str(root / units))
    _mount("-t", "proc", "proc", str(root / "proc"))
    _mount("--rbind", "/dev", str(root / "dev"))
    # /sys as `ip netns exec` mounted it: it shows this node's network devices.
    _mount("--rbind", "/sys", str(root / "sys"))
    _mount("-t", "tmpfs", "-o", "mode=0755", "run", str(root / "run"))
    _mount("-t", "tmpfs", "-o", "mode=1777", "tmp", str(root / "tmp"))
    # Last, so that a project living under /tmp or /run is not hidden by the node's own tmpfs.
    for path in binds:
        target = root / path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        _mount("--rbind", path, str(target))


def _make_run_dirs() -> None:
    for rel, (owner, mode) in RUN_DIRS.items():
        path = Path("/run") / rel
        path.mkdir(parents=True, exist_ok=True)
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:  # package not installed: the service that needs it will say so
            continue
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(mode)


# What bash reads when sshd runs a command (.bashrc) or a login shell starts: a fresh Debian root's.
SHELL_START_FILES = (".bashrc", ".profile")
SHELL_LOGIN_OVERRIDES = (".bash_profile", ".bash_login")  # bash prefers these to .profile


def _fresh_root_home() -> None:
    """Give root the shell start-up files of a fresh Debian install, in the node's own layer.

    The overlay shows the machine's /root, whose .bashrc may set up a developer's tools (pyenv's
    init alone starts dozens of processes, ~80 ms on every SSH command). A management node's root
    does not carry that, and the lab's timings must not either.
    """
    home = Path("/root")
    for name in SHELL_START_FILES:
        skel = Path("/etc/skel") / name
        (home / name).write_text(skel.read_text() if skel.exists() else "")
    for name in SHELL_LOGIN_OVERRIDES:
        (home / name).unlink(missing_ok=True)


def _reap_forever() -> None:
    """Reap every child and orphan as they die (a zombie keeps its PID "alive" for dhcpd and kin)."""
    signals = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if signal.sigwaitinfo(signals).si_signo != signal.SIGCHLD:
            sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nodeinit")
    parser.add_argument("--name", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--upper", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--lab", required=True, help="lab name (also marks this process as the lab's)")
    parser.add_argument("--bind", action="append", default=[], help="a machine path to bind into the node")
    args = parser.parse_args(argv)

    # /proc is still the machine's here, so /proc/self names our PID as the machine sees it.
    host_pid = int(os.readlink("/proc/self"))
    socket.sethostname(args.name)
    _prepare_root(args.root, args.upper, args.work, args.bind)
    os.chroot(args.root)
    os.chdir("/")
    _make_run_dirs()
    _fresh_root_home()
    # One line tells the lab we are ready and who we are; then stdout goes quiet for good.
    sys.stdout.write(f"READY {host_pid}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _reap_forever()


if __name__ == "__main__":
    main()
