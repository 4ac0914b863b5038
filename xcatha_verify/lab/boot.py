"""The first moments of a lab node's boot: its root file system, then the real systemd as PID 1.

Test equipment: nothing here runs on a real management node. Started by the lab (node.py) as
PID 1 of fresh PID, mount, UTS, IPC and cgroup namespaces inside the node's network namespace:

    nsenter --net=/run/netns/NS unshare --pid --fork --kill-child --mount --uts --ipc --cgroup \\
        PYTHON -m xcatha_verify.lab.boot --name NODE --dir NODEDIR [--bind SRC:DEST ...]

What a machine's firmware and initrd would do, it does here, then `exec`s /lib/systemd/systemd:

* an overlay of the machine's root (lower) and the node's kept layer (upper): what a node writes
  survives its reboots, and nothing it does reaches the machine's files;
* a /proc of its own PID namespace, with the kernel-wide knobs (/proc/sys, sysrq-trigger)
  read-only, and a boot ID of its own (journalctl tells the node's boots apart);
* a read-only sysfs of its network namespace (udev, sysctl and binfmt then leave the machine
  alone), and the cgroup2 tree of its cgroup namespace, writable (systemd manages it);
* a private /dev with the usual device nodes and its own devpts instance, never the machine's;
* /run and /tmp as fresh tmpfs (a reboot empties them, as on real hardware);
* machine paths bound in (the project and its Python, so the node runs the very code under test;
  the shared storage's "export"), after /run and /tmp so a checkout under /tmp is not hidden.

Then pivot_root, so systemd sees a real root and not a chroot.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SYSTEMD = "/lib/systemd/systemd"
# systemd reads `container=` to know it runs in a container (it skips units that need hardware).
CONTAINER_ENV = {"container": "xcatha-lab", "TERM": "dumb", "LANG": "C.UTF-8"}


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _read_only_bind(path: Path) -> None:
    _mount("--bind", str(path), str(path))
    _mount("-o", "remount,bind,ro", str(path))


def _build_root(node_dir: Path, binds: list[tuple[str, str]]) -> Path:
    root = node_dir / "root"
    _mount("--make-rprivate", "/")
    _mount("-t", "overlay", "overlay", "-o",
           f"lowerdir=/,upperdir={node_dir / 'upper'},workdir={node_dir / 'work'}", str(root))  # fmt: skip
    _mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(root / "proc"))
    for knob in ("sys", "sysrq-trigger"):
        if (root / "proc" / knob).exists():
            _read_only_bind(root / "proc" / knob)
    boot_id = node_dir / "boot_id"
    boot_id.write_text(f"{uuid.uuid4()}\n")
    _mount("--bind", str(boot_id), str(root / "proc/sys/kernel/random/boot_id"))
    _mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", str(root / "sys"))
    _mount("-t", "cgroup2", "-o", "rw,nosuid,nodev,noexec", "cgroup2", str(root / "sys/fs/cgroup"))
    _private_dev(root / "dev")
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "run", str(root / "run"))
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmp", str(root / "tmp"))
    for source, dest in binds:
        target = root / dest.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        _mount("--rbind", source, str(target))
    return root


def _private_dev(dev: Path) -> None:
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,size=4m", "dev", str(dev))
    for name in DEVICES:
        (dev / name).touch()
        _mount("--bind", f"/dev/{name}", str(dev / name))
    for sub in ("pts", "shm", "mqueue"):
        (dev / sub).mkdir()
    _mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", str(dev / "pts"))
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "shm", str(dev / "shm"))
    (dev / "ptmx").symlink_to("pts/ptmx")
    (dev / "fd").symlink_to("/proc/self/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        (dev / name).symlink_to(f"/proc/self/fd/{i}")
    # systemd writes its status to /dev/console; the node has no console, so it goes nowhere.
    (dev / "console").touch()
    _mount("--bind", "/dev/null", str(dev / "console"))


def _pivot(root: Path) -> None:
    os.chdir(root)
    Path(".oldroot").mkdir(exist_ok=True)
    subprocess.run(["pivot_root", ".", ".oldroot"], check=True)
    os.chdir("/")
    subprocess.run(["umount", "--lazy", "/.oldroot"], check=True)
    os.rmdir("/.oldroot")


def _bind_arg(text: str) -> tuple[str, str]:
    source, sep, dest = text.partition(":")
    return source, (dest if sep else source)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="xcatha_verify.lab.boot")
    parser.add_argument("--name", required=True, help="the node's host name")
    parser.add_argument("--dir", required=True, type=Path, help="the node's directory (upper/, work/, root/)")
    parser.add_argument("--bind", action="append", type=_bind_arg, default=[], help="SRC[:DEST] bound into the node")
    args = parser.parse_args(argv)
    if os.getpid() != 1:
        sys.exit("xcatha_verify.lab.boot must run as PID 1 of a new PID namespace")
    root = _build_root(args.dir, args.bind)
    socket.sethostname(args.name)
    _pivot(root)
    sys.stdout.flush()
    # From here the node's PID 1 is systemd (the lab finds it by that name in the node's cgroup).
    os.execve(SYSTEMD, [SYSTEMD, "--system", "--log-target=journal", "--show-status=no"], CONTAINER_ENV)  # noqa: S606


if __name__ == "__main__":
    main()
