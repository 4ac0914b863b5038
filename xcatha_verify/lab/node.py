"""A lab node as a machine: its kept layer, its power (boot under the real systemd), its cgroup.

Each node boots `/lib/systemd/systemd` as PID 1 in namespaces of its own (boot.py). The engine is
util-linux's `unshare`, not systemd-nspawn: nspawn wants a host systemd and D-Bus unless told
otherwise, mirrors its cgroups into the v1 hierarchy on a hybrid host and survives its own SIGKILL
(the container keeps running); `unshare --kill-child` ends the node with its launcher, and the
whole node is one cgroup directory we made, so power, freeze and teardown each act on one thing.

* Power on: the launcher joins the node's cgroup (a child of the machine's cgroup2 root), then
  the node's network namespace, then unshares the rest; boot.py builds the root and execs systemd.
  On is on once `systemctl is-system-running` says running or degraded.
* Power off: SIGKILL to PID 1 (the kernel ends its whole PID namespace; its mounts go with the
  mount namespace), the NIC loses its addresses and carrier, the cgroup directories are removed.
  The layer stays: powering on again is a reboot on the same disk.
* Freeze: cgroup.freeze of the node's cgroup stops every process of it, PID 1 included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xcatha_verify.errors import LabError, LabUnsupported
from xcatha_verify.lab import system
from xcatha_verify.lab.layout import LabLayout

log = logging.getLogger(__name__)

BOOT_TIMEOUT_S = 60
# A node never needs these: loading kernel modules, setting the machine's clock.
DROPPED_CAPABILITIES = "-sys_module,-sys_time"


def cgroup2_root() -> Path:
    """The machine's cgroup2 mount: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid)."""
    fstypes = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstypes[fields[4]] = fields[fields.index("-") + 1]
    for candidate in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if fstypes.get(candidate) == "cgroup2" and os.access(candidate, os.W_OK):
            return Path(candidate)
    raise LabUnsupported("xcatha-lab needs a writable cgroup2 mount (/sys/fs/cgroup or /sys/fs/cgroup/unified)")


def remove_cgroup_tree(top: Path) -> None:
    """rmdir a cgroup directory and its children, deepest first (they are empty once the node is dead)."""
    if not top.is_dir():
        return
    for _attempt in range(100):
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for path in [*dirs, top]:
            with contextlib.suppress(OSError):
                path.rmdir()
        if not top.exists():
            return
        time.sleep(0.02)  # a process that is exiting still counts for a moment
    raise LabError(f"cannot remove cgroup {top}: processes still in it")


def cgroup_pids(top: Path) -> list[int]:
    """Every process in a cgroup tree (its systemd makes and removes child cgroups as we read)."""
    pids = []
    for directory, _subdirs, _files in os.walk(top, onerror=lambda _error: None):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in Path(directory, "cgroup.procs").read_text().split()]
    return pids


def _innermost_pid(pid: int) -> int | None:
    """A process's PID in its own PID namespace (the last field of NSpid)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("NSpid:")), "")
    return int(line.split()[-1]) if line.split()[1:] else None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class NodeMachine:
    """One node's power and boot. Every method works from a fresh process (state is on disk)."""

    layout: LabLayout
    name: str
    binds: tuple[tuple[str, str], ...] = ()
    _launcher: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def dir(self) -> Path:
        return self.layout.node_dir(self.name)

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def cgroup(self) -> Path:
        return cgroup2_root() / self.layout.node_cgroup(self.name)

    @property
    def netns(self) -> str:
        return self.layout.node_ns(self.name)

    @property
    def boot_log(self) -> Path:
        return self.layout.log_dir / f"{self.name}-boot.log"

    # ------------------------------------------------------------------ PID 1
    def pid1(self) -> int | None:
        """The machine PID of the node's systemd (PID 1 in its own namespace), None when the node is off."""
        for pid in cgroup_pids(self.cgroup):
            if _comm(pid) == "systemd" and _innermost_pid(pid) == 1:
                return pid
        return None

    @property
    def is_on(self) -> bool:
        return self.pid1() is not None

    # ------------------------------------------------------------------ power
    def power_on(self, wait: bool = True) -> int:
        """Boot the node on its kept layer; returns PID 1 (idempotent: an "on" node is left alone)."""
        pid = self.pid1()
        if pid is not None:
            return pid
        if self.cgroup.exists():
            remove_cgroup_tree(self.cgroup)
        self.cgroup.mkdir()
        (self.dir / "root").mkdir(exist_ok=True)
        (self.dir / "work").mkdir(exist_ok=True)
        argv = [
            "sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup),
            "setpriv", "--bounding-set", DROPPED_CAPABILITIES,
            "nsenter", f"--net=/run/netns/{self.netns}",
            "unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc", "--cgroup", "--",
            sys.executable, "-m", "xcatha_verify.lab.boot", "--name", self.name, "--dir", str(self.dir),
            *(arg for source, dest in self.binds for arg in ("--bind", f"{source}:{dest}")),
        ]  # fmt: skip
        with self.boot_log.open("ab") as out:
            self._launcher = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while (pid := self.pid1()) is None:
            if self._launcher.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"node {self.name} did not boot: {self._log_tail()}")
            time.sleep(0.01)
        if wait:
            self.wait_booted(deadline)
        return pid

    def wait_booted(self, deadline: float | None = None) -> str:
        """Wait until systemd has finished booting (running or degraded); returns that state."""
        deadline = deadline or time.monotonic() + BOOT_TIMEOUT_S
        state = ""
        while time.monotonic() < deadline:
            pid = self.pid1()
            if pid is None:
                raise LabError(f"node {self.name} went off while booting: {self._log_tail()}")
            proc = system.run(system.in_node_argv(pid, ["systemctl", "is-system-running"]), check=False, timeout=10)
            state = proc.stdout.strip()
            if state in ("running", "degraded"):
                if state == "degraded":
                    failed = system.run(system.in_node_argv(pid, ["systemctl", "--failed", "--plain", "--no-legend"]),
                                        check=False).stdout.strip()  # fmt: skip
                    log.warning("node %s booted degraded: %s", self.name, failed)
                return state
            time.sleep(0.05)
        raise LabError(f"node {self.name} did not finish booting in {BOOT_TIMEOUT_S}s (state {state or 'unknown'})")

    def power_off(self) -> bool:
        """Hard power off, as a BMC does it; False when the node was off already."""
        pid = self.pid1()
        if pid is not None:
            self.thaw()  # a frozen process cannot die until thawed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait_empty()
        self._nic_loses_power()
        remove_cgroup_tree(self.cgroup)
        return pid is not None

    def _wait_empty(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = cgroup_pids(self.cgroup)
            if not pids:
                break
            if self.pid1() is None:  # left behind by a dead PID 1 (e.g. the launcher): end them
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        if self._launcher is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._launcher.wait(timeout=5)
            self._launcher = None

    def _nic_loses_power(self) -> None:
        """A powered-off machine's NIC has no addresses and no carrier (the VIP never survives)."""
        if Path(f"/run/netns/{self.netns}").exists():
            for argv in (["ip", "-n", self.netns, "addr", "flush", "dev", self.layout.interface],
                         ["ip", "-n", self.netns, "link", "set", self.layout.interface, "down"]):  # fmt: skip
                system.run(argv, check=False)

    def reboot(self) -> int:
        """Power off and on again on the kept layer (what the node wrote stays, /run and the VIP go)."""
        self.power_off()
        return self.power_on()

    # ------------------------------------------------------------------ freeze
    def _freeze_file(self) -> Path:
        return self.cgroup / "cgroup.freeze"

    def freeze(self) -> None:
        """Stop every process of the node, PID 1 included (a hung machine: it answers nothing)."""
        if self.pid1() is None:
            raise LabError(f"node {self.name} is off")
        self._freeze_file().write_text("1\n")

    def thaw(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._freeze_file().write_text("0\n")

    @property
    def frozen(self) -> bool:
        try:
            events = (self.cgroup / "cgroup.events").read_text()
        except OSError:
            return False
        return "frozen 1" in events

    def _log_tail(self) -> str:
        try:
            lines = self.boot_log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else f"no output (see {self.boot_log})"


def power_off_all(machines: Iterable[NodeMachine]) -> None:
    """Kill every PID 1 first, then wait: the nodes' teardowns overlap."""
    machines = list(machines)
    for machine in machines:
        pid = machine.pid1()
        if pid is not None:
            machine.thaw()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for machine in machines:
        machine.power_off()
