"""The lab: two xCAT management nodes booting the real systemd in namespaces on one machine.

Layout (names prefixed ``xcatha-<lab>-`` so two labs never collide):

* ``<tag>-sw``: a network namespace holding bridge ``br0`` and the runner's own address (network.py).
* ``<tag>-xcatmn1`` / ``<tag>-xcatmn2``: each node has its network namespace with ``eth0`` (a veth
  on the bridge) and boots `/lib/systemd/systemd` as PID 1 in its own PID, mount, UTS, IPC and
  cgroup namespaces on an overlay root with a kept layer (node.py, boot.py). Its units are real
  (units.py): sshd, PostgreSQL 15, xCAT's xcatd, chronyd -x, named, dhcpd, httpd, conserver, and a
  goconserver stand-in.
* Shared storage: directories on the lab's tmpfs, reached by each node as an export and mounted
  at the seed's five paths from `noauto` fstab lines by whichever node is active (database.py).

Everything lives under ``/run/xcatha-lab/<lab>`` (a tmpfs) and ``/run/xcatha-lab/<lab>.json``; the
node cgroups are ``<cgroup2>/<tag>-<node>``. Every name derives from the lab's name, so ``down``
removes what a lab left even after a killed run or without its state file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xcatha_verify import vip as vipmod
from xcatha_verify.errors import LabError, LabUnsupported, UsageError
from xcatha_verify.lab import access, database, network, provision, roles, snapshot, system, xcatsetup, xcatsource
from xcatha_verify.lab.layer import Layer
from xcatha_verify.lab.layout import (
    NODE_NAMES,
    PG_BIN,
    PROBE_FILE,
    SERVICES,
    SHARED_EXPORT,
    SHARED_PATHS,
    STATE_ROOT,
    LabLayout,
)
from xcatha_verify.lab.node import NodeMachine, cgroup2_root, power_off_all, remove_cgroup_tree

log = logging.getLogger(__name__)

REQUIRED_TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux", "setpriv": "util-linux",
    "pivot_root": "util-linux", "mount": "mount", "/lib/systemd/systemd": "systemd",
    "ssh": "openssh-client", "ssh-keygen": "openssh-client", "/usr/sbin/sshd": "openssh-server",
    "/usr/sbin/chronyd": "chrony", "chronyc": "chrony", "arping": "iputils-arping",
    "/usr/sbin/named": "bind9", "/usr/sbin/dhcpd": "isc-dhcp-server", "/usr/sbin/conserver": "conserver-server",
    "psql": "postgresql-client", str(PG_BIN / "postgres"): "postgresql-15", "runuser": "util-linux",
}  # fmt: skip
CONSOLE_LOCK = "conserver\n"  # the site's console server as xcatha.py records it in /etc/xcat/console.lock


class Lab:
    """One lab, identified by its layout's name; every method is safe to call from a fresh process."""

    def __init__(self, layout: LabLayout | None = None) -> None:
        self.layout = layout or LabLayout()
        self._state: dict[str, object] = {}
        self.machines = {node: NodeMachine(self.layout, node, _binds(self.layout)) for node in NODE_NAMES}

    # ------------------------------------------------------------------ state
    @classmethod
    def load(cls, name: str = "lab") -> Lab:
        """The lab `name` as its state file describes it (for status, shell, faults, power, down)."""
        path = STATE_ROOT / f"{name}.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"lab {name!r} is not up (no {path}); run: xcatha-lab up") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"lab state {path} is unreadable: {exc}") from exc
        lab = cls(LabLayout.from_dict(state["layout"]))
        lab._state = state
        return lab

    def _save(self) -> None:
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=2))
        tmp.replace(self.layout.state_file)

    def machine(self, node: str) -> NodeMachine:
        try:
            return self.machines[node]
        except KeyError:
            raise UsageError(f"no node {node!r} in lab {self.layout.name!r} (nodes: {', '.join(NODE_NAMES)})") from None

    def pid(self, node: str) -> int:
        """PID 1 (systemd) of a node that is on; LabError naming the node when it is off."""
        pid = self.machine(node).pid1()
        if pid is None:
            raise LabError(f"node {node} of lab {self.layout.name!r} is off (run: xcatha-lab power on {node})")
        return pid

    @property
    def state(self) -> dict[str, object]:
        """The lab's state file as loaded (layout, status, start time, storage id)."""
        return dict(self._state)

    @property
    def mgt_network_name(self) -> str:
        return access.mgt_network_name(self.layout)

    @property
    def db_password(self) -> str:
        return str(self._state["db_password"])

    # ------------------------------------------------------------------ running things in nodes
    def run(
        self, node: str, argv: Sequence[str], *, check: bool = True, input_text: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside `node` (all of its namespaces, its root) and capture the result.

        Such a process lives outside the node's units (like a console login with no session); daemons
        are started with systemctl, never this way.
        """
        return system.run(
            system.in_node_argv(self.pid(node), argv), check=check, input_text=input_text, timeout=timeout
        )

    def path(self, node: str, path: str) -> Path:
        """A file of a running `node` as reachable from the machine."""
        return system.node_path(self.pid(node), path)

    def write(self, node: str, path: str, text: str, mode: int = 0o644) -> None:
        target = self.path(node, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def systemctl(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(node, ["systemctl", *args], check=check)

    # ------------------------------------------------------------------ up
    def up(self, progress: Callable[[str], None] = lambda _m: None) -> float:
        """Build the lab; on any failure tear down what was built. Returns the seconds taken."""
        start = time.monotonic()
        preflight()
        if self.layout.state_file.exists():
            existing = Lab.load(self.layout.name)
            if existing.any_node_on():
                raise UsageError(f"lab {self.layout.name!r} is already up; run: xcatha-lab down")
            progress(f"cleaning a lab {self.layout.name!r} left by an earlier run")
            existing.down()
        self._state = {
            "layout": self.layout.to_dict(), "status": "building", "started": time.time(),
            # The shared storage's identity: on the storage, and recorded by each node (a prepared pair).
            "storage_id": str(uuid.uuid4()),
        }  # fmt: skip
        self._save()
        try:
            self._build(progress)
        except BaseException:
            progress("build failed: tearing down what was built")
            self.down()
            raise
        self._state["status"] = "up"
        self._save()
        return time.monotonic() - start

    def _build(self, progress: Callable[[str], None]) -> None:
        lay = self.layout
        lay.base.mkdir(parents=True, exist_ok=True)
        system.run(["mount", "-t", "tmpfs", "-o", "mode=0755", f"{lay.tag}-fs", str(lay.base)])
        for sub in (lay.log_dir, lay.ssh_dir, lay.control_dir, lay.shared):
            sub.mkdir(parents=True, exist_ok=True)
        progress("network: switch namespace, bridge, node links")
        network.build(lay)
        storage_id = str(self._state["storage_id"])
        kept = snapshot.path_for(lay)
        node_files = None
        if kept.is_file():
            progress(f"shared data: xCAT's set-up as kept for this layout ({kept.name})")
            node_files = snapshot.restore_shared(lay, kept)
        with ThreadPoolExecutor(max_workers=2) as pool:
            db = pool.submit(database.create, lay, storage_id, node_files is not None)
            progress("nodes: keys, disks (kept layers), units")
            access.make_keys(lay)
            for node in NODE_NAMES:
                provision.populate(Layer(self.machines[node].upper), lay, node, storage_id)
            access.write_machine_files(lay)
            progress("nodes: booting systemd")
            list(pool.map(self.power_on, NODE_NAMES))
            self._state["db_password"] = db.result()
        (lay.shared_dir("/etc/xcat") / "console.lock").write_text(CONSOLE_LOCK)
        for served in ("/install", "/tftpboot"):  # what the compute namespace fetches through the VIP
            (lay.shared_dir(served) / PROBE_FILE).write_text(f"xcatha-lab {lay.name} {served}\n")
        self._save()
        if node_files is not None:
            for node in NODE_NAMES:
                xcatsetup.install_node_files(self, node, node_files)
        else:
            progress("xcatmn1: xCAT's one-time set-up (xcatconfig -c and -d, site, networks, compute nodes)")
            xcatsetup.initialise(self, "xcatmn1")
        progress("xcatmn1: activate (the project's activate runbook: VIP, shared data, services)")
        self.activate("xcatmn1")
        progress("xcatmn2: standby (booted with nothing enabled: no VIP, no shared data, services stopped)")

    # ------------------------------------------------------------------ roles
    def activate(self, node: str) -> None:
        """The project's activate runbook for `node` (its steps; see roles.py)."""
        roles.activate(self.layout, node)

    def deactivate(self, node: str) -> None:
        """The project's deactivate runbook for `node` (its steps; see roles.py)."""
        roles.deactivate(self.layout, node)

    def vip_up(self, node: str) -> bool:
        lay = self.layout
        return vipmod.add_vip(str(lay.vip), lay.prefix, lay.interface, lay.label, netns=lay.node_ns(node))

    def vip_down(self, node: str) -> bool:
        lay = self.layout
        return vipmod.remove_vip(str(lay.vip), lay.prefix, lay.interface, netns=lay.node_ns(node))

    def holds_vip(self, node: str) -> bool:
        lay = self.layout
        return any(a.address == lay.vip for a in vipmod.addresses(lay.interface, netns=lay.node_ns(node)))

    def connect_storage(self, node: str) -> None:
        """Connect the shared data on `node` at the seed's five paths (idempotent)."""
        for path in SHARED_PATHS:
            if not self.is_mounted(node, path):
                self.run(node, ["mount", path])

    def is_mounted(self, node: str, path: str) -> bool:
        return self.run(node, ["mountpoint", "-q", path], check=False).returncode == 0

    # ------------------------------------------------------------------ power
    def power_on(self, node: str) -> int:
        return self._bootable(node).power_on()

    def power_off(self, node: str) -> bool:
        self._stop_control_master(node)
        return self.machine(node).power_off()

    def reboot(self, node: str) -> int:
        self._stop_control_master(node)
        return self._bootable(node).reboot()

    def _bootable(self, node: str) -> NodeMachine:
        """The node with what it boots with bound in: the assembled /opt/xcat.

        Found only when a node boots, so that status, faults and down need no xCAT source.
        """
        machine = self.machine(node)
        if not any(dest == provision.XCAT_ROOT for _src, dest in machine.binds):
            machine.binds = (*machine.binds, (str(xcatsource.assembled_tree()), provision.XCAT_ROOT))
        return machine

    def power_state(self, node: str) -> str:
        machine = self.machine(node)
        if not machine.is_on:
            return "off"
        return "on (frozen)" if machine.frozen else "on"

    # ------------------------------------------------------------------ status and teardown
    def any_node_on(self) -> bool:
        return any(m.is_on for m in self.machines.values())

    def status(self) -> dict[str, object]:
        """What is up: per node its power, VIP, storage and service states (read from the nodes)."""
        nodes: dict[str, object] = {}
        for node in NODE_NAMES:
            power = self.power_state(node)
            if power != "on":
                nodes[node] = {"running": False, "power": power, "static_ip": str(self.layout.static_ip(node))}
                continue
            active = self.run(node, ["systemctl", "is-active", *SERVICES], check=False).stdout.split()
            enabled = self.run(node, ["systemctl", "is-enabled", *SERVICES], check=False).stdout.split()
            nodes[node] = {
                "running": True,
                "power": power,
                "init_pid": self.pid(node),
                "static_ip": str(self.layout.static_ip(node)),
                "vip": self.holds_vip(node),
                "shared_storage": [p for p in SHARED_PATHS if self.is_mounted(node, p)],
                "services": dict(zip(SERVICES, active, strict=False)),
                "enabled_at_boot": [s for s, e in zip(SERVICES, enabled, strict=False) if e == "enabled"],
            }
        return {
            "lab": self.layout.name,
            "status": self._state.get("status"),
            "vip": f"{self.layout.vip}/{self.layout.prefix} ({self.layout.label})",
            "inventory": str(self.layout.inventory),
            "ssh_config": str(self.layout.ssh_config),
            "nodes": nodes,
        }

    def leftovers(self) -> list[str]:
        """What of a lab of this name is on the machine: namespaces, its tmpfs, node cgroups, state."""
        lay = self.layout
        found = [f"netns {ns}" for ns in lay.namespaces if ns in system.netns_list()]
        found += [f"mount {lay.base}"] if os.path.ismount(lay.base) else []
        with contextlib.suppress(LabUnsupported):
            found += [f"cgroup {lay.node_cgroup(n)}" for n in NODE_NAMES
                      if (cgroup2_root() / lay.node_cgroup(n)).exists()]  # fmt: skip
        found += [f"file {lay.state_file}"] if lay.state_file.exists() else []
        return found

    def down(self) -> float:
        """Remove everything this lab made, whatever state a build, a killed run or a crash left."""
        start = time.monotonic()
        lay = self.layout
        for node in NODE_NAMES:
            self._stop_control_master(node)
        with contextlib.suppress(LabUnsupported):
            cgroup2_root()
            power_off_all(self.machines.values())
        _end_stragglers(lay)
        network.remove(lay)
        if os.path.ismount(lay.base) and system.run(["umount", str(lay.base)], check=False).returncode != 0:
            system.run(["umount", "--lazy", str(lay.base)], check=False)
        with contextlib.suppress(OSError):
            lay.base.rmdir()
        with contextlib.suppress(OSError):
            lay.state_file.unlink()
        with contextlib.suppress(LabUnsupported):
            for node in NODE_NAMES:
                remove_cgroup_tree(cgroup2_root() / lay.node_cgroup(node))
        return time.monotonic() - start

    def _stop_control_master(self, node: str) -> None:
        """End the machine's ssh ControlMaster to `node` (its connection dies with the node anyway)."""
        sock = self.layout.control_dir / node
        if sock.exists():
            system.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", node],
                       check=False, timeout=10)  # fmt: skip


# ---------------------------------------------------------------------- helpers
def _binds(layout: LabLayout) -> tuple[tuple[str, str], ...]:
    """Machine paths bound into the nodes besides their overlay root.

    The project and its venv are bound live, so nodes run the very code on the machine (an
    overlay's lower layer must not change under it); a Python living on another file system is
    bound too, since the overlay shows only the root file system. The shared storage is the
    nodes' "export", which they mount from with their fstab.
    """
    package_parent = Path(__file__).resolve().parents[2]
    live = {package_parent, Path(sys.prefix).resolve()}
    if os.stat(sys.base_prefix).st_dev != os.stat("/").st_dev:
        live.add(Path(_mount_point(Path(sys.base_prefix))))
    # Drop paths inside another bound path: --rbind already carries them.
    kept = sorted(p for p in live if not any(q != p and q in p.parents for q in live))
    return (*((str(p), str(p)) for p in kept), (str(layout.shared), SHARED_EXPORT))


def _mount_point(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


def _end_stragglers(layout: LabLayout) -> None:
    """End processes a killed build left on the machine (initdb, the seeding PostgreSQL, ssh-keygen,
    ssh masters): ours, since their command lines name this lab's private directory."""
    marker = str(layout.base).encode() + b"/"
    for _attempt in range(50):
        pids = [pid for pid in _pids() if marker in _cmdline(pid)]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def preflight() -> None:
    """One-line refusal when this machine cannot host a lab."""
    if os.geteuid() != 0:
        raise LabUnsupported("xcatha-lab needs root (network, mount, PID and cgroup namespaces)")
    if not Path("/proc/self/ns/net").exists() or not Path("/proc/self/ns/cgroup").exists():
        raise LabUnsupported("xcatha-lab needs a kernel with network, mount, PID and cgroup namespaces")
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not (Path(tool).exists() or shutil.which(tool))})
    if missing:
        raise LabUnsupported(f"xcatha-lab needs Debian packages: {' '.join(missing)} (run: bash scripts/setup.sh)")
    cgroup2_root()


def labs_present() -> list[str]:
    """Names of labs with a state file on this machine."""
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.stem for p in STATE_ROOT.glob("*.json"))


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and int(p.name) != os.getpid()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
