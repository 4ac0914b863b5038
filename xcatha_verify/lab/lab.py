"""The lab: two xCAT management nodes in namespaces on one machine, joined by a bridge.

Layout (names prefixed ``xcatha-<lab>-`` so two labs never collide):

* ``<tag>-sw``: a network namespace holding bridge ``br0`` and the runner's own address; ssh
  reaches the nodes through it (see relay.py), so the root namespace's routing is never touched.
* ``<tag>-xcatmn1`` / ``<tag>-xcatmn2``: each node has its own network namespace with ``eth0`` (a
  veth on the bridge), and its own mount, UTS, IPC and PID namespaces (nodeinit.py) with a
  private overlay root. Real sshd, real PostgreSQL, real chronyd -x, named, dhcpd and conserver
  run inside, controlled by docker-systemctl-replacement as ``systemctl``.
* Shared storage: directories on the lab's tmpfs, bind-mounted at the seed's five paths into
  whichever node is connected.

Everything lives under ``/run/xcatha-lab/<lab>`` (a tmpfs) and ``/run/xcatha-lab/<lab>.json`` (the
state file that lets ``down`` clean up after a killed run). Killing a node's init ends all of its
processes and mounts; deleting the namespaces ends the links.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import ipaddress
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jinja2

from xcatha_verify import vip as vipmod
from xcatha_verify.errors import LabError, LabUnsupported, UsageError
from xcatha_verify.lab import system
from xcatha_verify.lab.layout import (
    DB_NAME,
    DB_USER,
    DOMAIN,
    NODE_NAMES,
    PG_BIN,
    PG_DATA,
    SERVICES,
    SHARED_PATHS,
    STATE_ROOT,
    VIP_HOSTNAME,
    LabLayout,
)

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("xcatha_verify.lab", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - config files, not HTML
)
STANDIN_COMMANDS = (
    "lsdef", "tabdump", "chdef", "makedns", "makedhcp", "makeconservercf", "makegocons", "lsxcatd",
)  # fmt: skip
SYSTEMCTL_TUNING = {"MinimumYield": "0.2", "MinimumTimeoutStartSec": "2", "MinimumTimeoutStopSec": "2"}
PACKAGE_DIRS = {"/var/named": "bind", "/var/lib/dhcp": "root", "/etc/dhcp": "root", "/etc/goconserver": "root"}
SHARED_EXPORT = "/xcatha-shared"  # where nodes reach the shared storage (like an NFS export)
NODE_XCATHA_DIR = "/etc/xcatha"  # where a site keeps xcatha-verify's inventory on each node
STORAGE_ID = ".xcatha-storage-id"  # see checks/test_pair.py: pair.same_storage
STORAGE_RECORD = "/var/lib/xcatha/storage-id"
NODEINIT_MARKER = "xcatha_verify.lab.nodeinit"
REQUIRED_TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux", "mount": "mount",
    "ssh": "openssh-client", "ssh-keygen": "openssh-client", "/usr/sbin/sshd": "openssh-server",
    "/usr/sbin/chronyd": "chrony", "chronyc": "chrony", "arping": "iputils-arping",
    "/usr/sbin/named": "bind9", "/usr/sbin/dhcpd": "isc-dhcp-server", "/usr/sbin/conserver": "conserver-server",
    "psql": "postgresql-client", str(PG_BIN / "postgres"): "postgresql-15", "runuser": "util-linux",
}  # fmt: skip


@dataclass(frozen=True)
class UnitSpec:
    description: str
    exec_start: str
    type: str = "simple"
    user: str | None = None
    exec_start_pre: tuple[str, ...] = ()
    pid_file: str | None = None
    kill_signal: str | None = None
    timeout: int = 30


def _unit_specs(python: str, interface: str) -> dict[str, UnitSpec]:
    standin = f"{python} -m xcatha_verify.lab.standins"
    return {
        "postgresql": UnitSpec(
            "PostgreSQL 15 on shared storage (real server)",
            f"{PG_BIN}/postgres -D {PG_DATA}",
            type="notify", user="postgres", kill_signal="SIGINT", pid_file=f"{PG_DATA}/postmaster.pid",
        ),
        "xcatd": UnitSpec("xCAT daemon (lab stand-in, port 3001)", f"{standin}.xcatd", type="notify"),
        "named": UnitSpec(
            "BIND 9 (real daemon, configured by makedns -n)", "/usr/sbin/named -f -u bind -c /etc/named.conf"
        ),
        "dhcpd": UnitSpec(
            "ISC DHCP server (real daemon, configured by makedhcp -n)",
            f"/usr/sbin/dhcpd -f -4 -q -cf /etc/dhcp/dhcpd.conf -lf /var/lib/dhcp/dhcpd.leases "
            f"-pf /run/dhcp-server/dhcpd.pid {interface}",
            exec_start_pre=("/usr/bin/touch /var/lib/dhcp/dhcpd.leases",),
        ),
        "chronyd": UnitSpec(
            "chrony (real daemon, -x: never sets the clock)", "/usr/sbin/chronyd -d -x -f /etc/chrony/chrony.conf"
        ),
        "conserver": UnitSpec(
            "conserver (real daemon, configured by makeconservercf)", "/usr/sbin/conserver -C /etc/conserver.cf"
        ),
        "goconserver": UnitSpec(
            "goconserver (lab stand-in holding a pid and port 12430)",
            f"{standin}.listener --name goconserver --port 12430",
        ),
    }  # fmt: skip


def _python_for_nodes() -> str:
    """The interpreter the nodes run the lab's Python with (this one: nodes see the machine's files)."""
    return sys.executable


class Lab:
    """One lab, identified by its layout's name; every method is safe to call from a fresh process."""

    def __init__(self, layout: LabLayout | None = None) -> None:
        self.layout = layout or LabLayout()
        self._state: dict[str, object] = {}
        # The `ip netns exec unshare` processes this object started, reaped on down().
        self._launchers: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------------ state
    @classmethod
    def load(cls, name: str = "lab") -> Lab:
        """The lab `name` as its state file describes it (for status, shell, faults, down)."""
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

    def pid(self, node: str) -> int:
        pids = self._state.get("pids", {})
        assert isinstance(pids, dict)
        if node not in pids:
            raise UsageError(f"no node {node!r} in lab {self.layout.name!r} (nodes: {', '.join(NODE_NAMES)})")
        pid = int(pids[node])
        if not system.pid_alive(pid, NODEINIT_MARKER):
            raise LabError(f"node {node} of lab {self.layout.name!r} is not running (init pid {pid} gone)")
        return pid

    @property
    def db_password(self) -> str:
        return str(self._state["db_password"])

    # ------------------------------------------------------------------ running things in nodes
    def run(
        self, node: str, argv: Sequence[str], *, check: bool = True, input_text: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside `node` (all of its namespaces, its root) and capture the result."""
        return system.run(
            system.in_node_argv(self.pid(node), argv), check=check, input_text=input_text, timeout=timeout
        )

    def path(self, node: str, path: str) -> Path:
        """A file of `node` as reachable from the machine."""
        return system.node_path(self.pid(node), path)

    def write(self, node: str, path: str, text: str, mode: int = 0o644) -> None:
        target = self.path(node, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def systemctl(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(node, ["systemctl", *args], check=check)

    def node_mount(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`mount`/`umount` run in the node's mount namespace with the machine's paths in reach."""
        return system.run(["nsenter", f"--target={self.pid(node)}", "--mount", "--", *args], check=check)

    def node_root(self, node: str) -> Path:
        return self.layout.node_dir(node) / "root"

    # ------------------------------------------------------------------ up
    def up(self, progress: Callable[[str], None] = lambda _m: None) -> float:
        """Build the lab; on any failure tear down what was built. Returns the seconds taken."""
        start = time.monotonic()
        preflight()
        if self.layout.state_file.exists():
            existing = Lab.load(self.layout.name)
            if existing.alive():
                raise UsageError(f"lab {self.layout.name!r} is already up; run: xcatha-lab down")
            progress(f"cleaning a lab {self.layout.name!r} left by an earlier run")
            existing.down()
        self._state = {
            "layout": self.layout.to_dict(), "status": "building", "pids": {}, "started": time.time(),
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
        self._state["tmpfs"] = str(lay.base)
        self._save()
        for sub in (lay.log_dir, lay.ssh_dir, lay.control_dir, lay.shared):
            sub.mkdir(parents=True, exist_ok=True)
        progress("network: switch namespace, bridge, node links")
        self._build_network()
        with ThreadPoolExecutor(max_workers=4) as pool:
            db = pool.submit(self._init_database)
            keys = pool.submit(self._make_client_key)
            progress("nodes: namespaces, private roots, init")
            self._start_nodes()
            list(pool.map(self._provision_node, NODE_NAMES))
            keys.result()
            db.result()
        self._write_client_files()
        progress("xcatmn1: VIP, shared storage, services (active)")
        self.activate("xcatmn1", first_time=True)
        progress("xcatmn2: standby (no VIP, storage disconnected, services stopped)")

    def _build_network(self) -> None:
        lay = self.layout
        sw = lay.switch_ns
        batch = [f"netns add {ns}" for ns in lay.namespaces]
        system.run(["ip", "-batch", "-"], input_text="\n".join(batch) + "\n")
        self._state["netns"] = lay.namespaces
        self._save()
        cmds = [
            ["ip", "-n", sw, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", sw, "link", "set", "lo", "up"],
            ["ip", "-n", sw, "addr", "add", f"{lay.switch_ip}/{lay.prefix}", "dev", "br0"],
            ["ip", "-n", sw, "link", "set", "br0", "up"],
        ]
        for i, node in enumerate(NODE_NAMES, start=1):
            ns = lay.node_ns(node)
            port = f"port{i}"
            cmds += [
                ["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", lay.interface, "netns", ns],
                ["ip", "-n", sw, "link", "set", port, "master", "br0", "up"],
                ["ip", "-n", ns, "link", "set", "lo", "up"],
                ["ip", "-n", ns, "addr", "add", f"{lay.static_ip(node)}/{lay.prefix}", "dev", lay.interface],
                ["ip", "-n", ns, "link", "set", lay.interface, "up"],
            ]
        for argv in cmds:
            system.run(argv)

    def _start_nodes(self) -> None:
        lay = self.layout
        procs: dict[str, subprocess.Popen[bytes]] = {}
        for node in NODE_NAMES:
            ndir = lay.node_dir(node)
            for sub in ("upper", "work", "root"):
                (ndir / sub).mkdir(parents=True, exist_ok=True)
            argv = [
                "ip", "netns", "exec", lay.node_ns(node),
                "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
                _python_for_nodes(), "-m", NODEINIT_MARKER, "--lab", lay.name, "--name", node,
                "--root", str(ndir / "root"), "--upper", str(ndir / "upper"), "--work", str(ndir / "work"),
                *self._extra_binds_args(),
            ]  # fmt: skip
            err = (lay.log_dir / f"{node}-init.log").open("wb")
            procs[node] = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
            )
            self._launchers.append(procs[node])
            err.close()
        pids: dict[str, int] = {}
        for node, proc in procs.items():
            assert proc.stdout is not None
            line = proc.stdout.readline().decode().split()
            proc.stdout.close()
            if len(line) != 2 or line[0] != "READY":
                proc.wait(timeout=5)
                detail = (lay.log_dir / f"{node}-init.log").read_text().strip().splitlines()
                raise LabError(f"node {node} did not start: {detail[-1] if detail else 'no output'}")
            pids[node] = int(line[1])
        self._state["pids"] = pids
        self._save()

    def _extra_binds_args(self) -> list[str]:
        """Machine paths bound into the nodes besides their overlay root.

        The project and its venv are bound live, so nodes run the very code on the machine (an
        overlay's lower layer must not change under it); a Python living on another file system
        is bound too, since the overlay shows only the root file system.
        """
        package_parent = Path(__file__).resolve().parents[2]
        live = {package_parent, Path(sys.prefix).resolve()}
        if os.stat(sys.base_prefix).st_dev != os.stat("/").st_dev:
            live.add(Path(_mount_point(Path(sys.base_prefix))))
        # Drop paths inside another bound path: --rbind already carries them.
        kept = sorted(p for p in live if not any(q != p and q in p.parents for q in live))
        return [arg for path in kept for arg in ("--bind", str(path))]

    def _provision_node(self, node: str) -> None:
        lay = self.layout
        ndir = lay.node_dir(node)
        peer = next(n for n in NODE_NAMES if n != node)
        nodes = [{"name": n, "ip": str(lay.static_ip(n))} for n in NODE_NAMES]
        hosts = TEMPLATES.get_template("hosts.j2").render(
            vip=lay.vip, vip_hostname=VIP_HOSTNAME, vip_short=VIP_HOSTNAME.split(".")[0], nodes=nodes, domain=DOMAIN
        )
        self.write(node, "/etc/hosts", hosts)
        self.write(node, "/etc/hostname", f"{node}\n")
        netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{lay.prefix}").netmask)
        self.write(
            node,
            f"/etc/sysconfig/network-scripts/ifcfg-{lay.interface}",
            TEMPLATES.get_template("ifcfg.j2").render(interface=lay.interface, netmask=netmask, ip=lay.static_ip(node)),
        )
        self.write(
            node,
            "/etc/chrony/chrony.conf",
            TEMPLATES.get_template("chrony.conf.j2").render(node=node, peer_ip=lay.static_ip(peer), subnet=lay.subnet),
        )
        # Unit files: the node's /etc/systemd/system is the lab's units directory (see nodeinit).
        python = _python_for_nodes()
        for unit, spec in _unit_specs(python, lay.interface).items():
            text = TEMPLATES.get_template("unit.service.j2").render(
                unit=unit, node=node, description=spec.description, type=spec.type, user=spec.user,
                exec_start_pre=spec.exec_start_pre, exec_start=spec.exec_start, pid_file=spec.pid_file,
                kill_signal=spec.kill_signal, timeout=spec.timeout,
            )  # fmt: skip
            self.write(node, f"/etc/systemd/system/{unit}.service", text)
        # systemctl: docker-systemctl-replacement, bind-mounted over /usr/bin/systemctl.
        replacement = importlib.util.find_spec("systemctl2.systemctl3")
        if replacement is None or replacement.origin is None:
            raise LabUnsupported("docker-systemctl-replacement is not installed; run: bash scripts/setup.sh")
        wrapper = ndir / "systemctl"
        # Shorter settle times than the replacement's defaults; still long enough to see a crash at start.
        tuning = " ".join(f"-c {k}={v}" for k, v in SYSTEMCTL_TUNING.items())
        # As a module (-m), not a script: Python then loads its cached bytecode instead of compiling
        # 7,000 lines on every call (0.2 s down to 0.08 s per systemctl).
        wrapper.write_text(f'#!/bin/sh\nexec {python} -m systemctl2.systemctl3 {tuning} "$@"\n')
        wrapper.chmod(0o755)
        target = self.path(node, "/usr/bin/systemctl")
        if not target.exists():
            target.touch()
        self.node_mount(node, "mount", "--bind", str(wrapper), str(self.node_root(node) / "usr/bin/systemctl"))
        # The xCAT stand-in commands (test equipment, see xcatha_verify/lab/standins).
        for command in STANDIN_COMMANDS:
            self.write(
                node,
                f"/usr/local/sbin/{command}",
                f'#!/bin/sh\n# xCAT command stand-in of the lab (test equipment).\n'
                f'exec {python} -m xcatha_verify.lab.standins.commands {command} "$@"\n',
                mode=0o755,
            )
        # What the daemons' packages would have created on a RHEL management node.
        for path, owner in PACKAGE_DIRS.items():
            self.path(node, path).mkdir(parents=True, exist_ok=True)
            shutil.chown(self.path(node, path), owner, owner)
        self.write(node, STORAGE_RECORD, f"{self._state['storage_id']}\n")
        # Mount points for the shared data, empty while disconnected.
        for path in SHARED_PATHS:
            self.path(node, path).mkdir(parents=True, exist_ok=True)
        self._attach_storage_export(node)
        self._start_sshd(node)

    def _start_sshd(self, node: str) -> None:
        key = self.layout.node_dir(node) / "host_key"
        system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node, "-f", str(key)])
        self.write(node, "/etc/ssh/lab_host_ed25519_key", key.read_text(), mode=0o600)
        self.write(node, "/etc/ssh/lab_sshd_config", TEMPLATES.get_template("sshd_config.j2").render(node=node))
        self.start_sshd(node)

    def start_sshd(self, node: str) -> None:
        # sshd's seccomp sandbox kills a child that libfaketime (the clock-skew fault) makes open files:
        # sshd itself keeps the real clock; the sessions it starts still see the node's skewed one.
        self.run(node, ["env", "FAKETIME_SKIP_CMDS=sshd", "/usr/sbin/sshd", "-f", "/etc/ssh/lab_sshd_config"])

    def _make_client_key(self) -> None:
        key = self.layout.ssh_dir / "id_ed25519"
        comment = f"xcatha-lab-{self.layout.name}"
        system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])

    def _write_client_files(self) -> None:
        """ssh and inventory for the machine's shell, and the same inside each node (as a site sets
        up root's access between its management nodes), so xcatha-verify runs from either place."""
        lay = self.layout
        pub = (lay.ssh_dir / "id_ed25519.pub").read_text()
        known = "".join(
            f"{node} {' '.join((lay.node_dir(node) / 'host_key.pub').read_text().split()[:2])}\n" for node in NODE_NAMES
        )
        (lay.ssh_dir / "known_hosts").write_text(known)
        proxy = f"nsenter --net=/run/netns/{lay.switch_ns} {_python_for_nodes()} -m xcatha_verify.lab.relay %h %p"
        lay.ssh_config.write_text(self._ssh_config(lay.ssh_dir, lay.control_dir, proxy))
        lay.inventory.write_text(self._inventory(lay.ssh_config))
        key = (lay.ssh_dir / "id_ed25519").read_text()
        for node in NODE_NAMES:
            self.write(node, "/etc/ssh/lab_authorized_keys", pub, mode=0o600)
            self.write(node, f"{NODE_XCATHA_DIR}/id_ed25519", key, mode=0o600)
            self.write(node, f"{NODE_XCATHA_DIR}/known_hosts", known)
            self.write(node, f"{NODE_XCATHA_DIR}/ssh_config",
                       self._ssh_config(Path(NODE_XCATHA_DIR), Path("/run/xcatha-ssh"), proxy=None))  # fmt: skip
            self.write(node, f"{NODE_XCATHA_DIR}/inventory.yml", self._inventory(Path(NODE_XCATHA_DIR) / "ssh_config"))

    def _ssh_config(self, ssh_dir: Path, control_dir: Path, proxy: str | None) -> str:
        lay = self.layout
        return TEMPLATES.get_template("ssh_config.j2").render(
            lab=lay.name,
            nodes=[{"name": n, "ip": str(lay.static_ip(n))} for n in NODE_NAMES],
            hosts_pattern=" ".join(NODE_NAMES),
            identity=ssh_dir / "id_ed25519",
            known_hosts=ssh_dir / "known_hosts",
            proxy_command=proxy,
            control_dir=control_dir,
        )

    def _inventory(self, ssh_config: Path) -> str:
        lay = self.layout
        return TEMPLATES.get_template("inventory.yml.j2").render(
            lab=lay.name,
            cluster=f"lab-{lay.name}",
            vip=lay.vip,
            prefix=lay.prefix,
            interface=lay.interface,
            label=lay.label,
            vip_hostname=VIP_HOSTNAME,
            ssh_config=ssh_config,
            nodes=[{"name": n, "ip": str(lay.static_ip(n))} for n in NODE_NAMES],
            network_config=f"/etc/sysconfig/network-scripts/ifcfg-{lay.interface}",
            services=SERVICES,
            pg_data=PG_DATA,
            mgt_network=self.mgt_network_name,
        )

    @property
    def mgt_network_name(self) -> str:
        """xCAT's netname for the lab network, e.g. 192_0_2_0-255_255_255_0."""
        net = self.layout.subnet
        return f"{str(net.network_address).replace('.', '_')}-{str(net.netmask).replace('.', '_')}"

    # ------------------------------------------------------------------ shared storage and database
    def _init_database(self) -> None:
        """initdb on the shared storage, configured as the seed wants (VIP and both static IPs)."""
        lay = self.layout
        for path in SHARED_PATHS:
            lay.shared_dir(path).mkdir(parents=True, exist_ok=True)
        pgsql = lay.shared_dir("/var/lib/pgsql")
        data = pgsql / "data"
        shutil.chown(pgsql, "postgres", "postgres")
        password = secrets.token_urlsafe(18)
        self._state["db_password"] = password
        system.run([
            "runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-E", "UTF8",
            "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions",
        ], timeout=120)  # fmt: skip
        static_ips = [str(lay.static_ip(n)) for n in NODE_NAMES]
        listen = ",".join(["localhost", str(lay.vip), *static_ips])
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# xCAT HA (xcatha-lab): the VIP and every management node's static IP\n"
                f"listen_addresses = '{listen}'\n"
                "unix_socket_directories = '/run/postgresql'\n"
            )
        (data / "pg_hba.conf").write_text(
            TEMPLATES.get_template("pg_hba.conf.j2").render(vip=lay.vip, static_ips=static_ips)
        )
        (lay.shared_dir("/etc/xcat") / STORAGE_ID).write_text(f"{self._state['storage_id']}\n")
        cfgloc = lay.shared_dir("/etc/xcat") / "cfgloc"
        cfgloc.write_text(f"Pg:dbname={DB_NAME};host={lay.vip}|{DB_USER}|{password}\n")
        cfgloc.chmod(0o600)
        self._save()

    def _attach_storage_export(self, node: str) -> None:
        """Make the shared storage reachable from `node` as a site's NFS export would be, with
        `noauto` fstab entries, so `mount /etc/xcat` on the node connects it and `umount` disconnects."""
        self.path(node, SHARED_EXPORT).mkdir(parents=True, exist_ok=True)  # in the node's own root
        export = self.node_root(node) / SHARED_EXPORT.lstrip("/")
        self.node_mount(node, "mount", "--bind", str(self.layout.shared), str(export))
        fstab = self.path(node, "/etc/fstab")
        lines = [f"{SHARED_EXPORT}/{d} {p} none bind,noauto 0 0\n" for p, d in SHARED_PATHS.items()]
        before = fstab.read_text() if fstab.exists() else ""
        fstab.write_text(before + "# shared data (xcatha-lab)\n" + "".join(lines))

    def connect_storage(self, node: str) -> None:
        """Connect the shared data on `node` at the seed's five paths (idempotent)."""
        for path in SHARED_PATHS:
            if not self.is_mounted(node, path):
                self.run(node, ["mount", path])

    def disconnect_storage(self, node: str) -> None:
        """Unmount the shared paths from `node`; fails loudly if something still uses them."""
        for path in SHARED_PATHS:
            if self.is_mounted(node, path):
                self.run(node, ["umount", path])

    def is_mounted(self, node: str, path: str) -> bool:
        proc = self.run(node, ["mountpoint", "-q", path], check=False)
        return proc.returncode == 0

    def _seed_database(self, node: str) -> None:
        schema_sql = importlib.resources.files("xcatha_verify.lab.standins").joinpath("schema.sql").read_text()
        lay = self.layout
        password = self.db_password.replace("'", "''")
        setup = (
            f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{password}';\n"
            f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n"
        )
        self.run(node, ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                 input_text=setup)  # fmt: skip
        net = lay.subnet
        rows = [
            ("site", ("key", "value"), [("domain", DOMAIN), ("master", str(lay.vip)), ("nameservers", str(lay.vip))]),
            ("networks", ("netname", "net", "mask", "mgtifname", "gateway"),
             [(self.mgt_network_name, str(net.network_address), str(net.netmask), lay.label, "<xcatmaster>")]),
            ("nodelist", ("node", "groups"), [("cn1", "compute,all"), ("cn2", "compute,all")]),
            ("hosts", ("node", "ip"),
             [("cn1", str(net.network_address + 101)), ("cn2", str(net.network_address + 102))]),
            ("mac", ("node", "interface", "mac"),
             [("cn1", "eth0", "02:00:00:00:01:01"), ("cn2", "eth0", "02:00:00:00:01:02")]),
        ]  # fmt: skip
        inserts = []
        for table, cols, values in rows:
            for row in values:
                quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in row)
                # Table and column names are the lab's constants; values are quoted literals.
                inserts.append(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({quoted});")  # noqa: S608
        sql = f"SET ROLE {DB_USER};\n{schema_sql}\n" + "\n".join(inserts) + "\n"
        self.run(node, ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB_NAME],
                 input_text=sql)  # fmt: skip

    # ------------------------------------------------------------------ roles
    def vip_up(self, node: str) -> bool:
        lay = self.layout
        changed = vipmod.add_vip(str(lay.vip), lay.prefix, lay.interface, lay.label, netns=lay.node_ns(node))
        # Gratuitous ARP so the neighbours' caches follow the VIP to this node (fire and forget:
        # arping lingers a second for replies that unsolicited ARP never gets).
        garp = f"arping -q -U -c 1 -I {shlex.quote(lay.interface)} {lay.vip} >/dev/null 2>&1 &"
        self.run(node, ["sh", "-c", garp], check=False)
        return changed

    def vip_down(self, node: str) -> bool:
        lay = self.layout
        return vipmod.remove_vip(str(lay.vip), lay.prefix, lay.interface, netns=lay.node_ns(node))

    def holds_vip(self, node: str) -> bool:
        lay = self.layout
        return any(a.address == lay.vip for a in vipmod.addresses(lay.interface, netns=lay.node_ns(node)))

    def activate(self, node: str, first_time: bool = False) -> None:
        """The seed's activation, done directly (the lab's own set-up, not the product's runbook)."""
        self.vip_up(node)
        self.connect_storage(node)
        self.systemctl(node, "start", "postgresql")
        if first_time:
            self._seed_database(node)
        self.systemctl(node, "start", "xcatd")
        for command in (["makedns", "-n"], ["makedhcp", "-n"], ["makedhcp", "-a"]):
            self.run(node, command)
        self.systemctl(node, "start", "chronyd")
        self.run(node, ["makeconservercf"])
        self.systemctl(node, "start", "conserver")

    def deactivate(self, node: str) -> None:
        """Stop every service in reverse order, disable them at boot, drop the VIP, disconnect storage."""
        for unit in reversed(SERVICES):
            self.systemctl(node, "stop", unit, check=False)
        for unit in reversed(SERVICES):
            self.systemctl(node, "disable", unit, check=False)
        self.vip_down(node)
        self.disconnect_storage(node)

    def freeze(self, node: str) -> None:
        """Stop every process of the node but its init (SIGSTOP): a fenced node does nothing more."""
        self.run(node, ["kill", "-STOP", "-1"], check=False)

    def reboot(self, node: str) -> None:
        """A power cycle as the node would see it: every process killed, the non-persistent VIP and the
        shared data gone, the link up again and sshd started; services disabled at boot stay down."""
        self.run(node, ["kill", "-KILL", "-1"], check=False)
        for path in SHARED_PATHS:
            self.run(node, ["umount", "--lazy", path], check=False)
        self.vip_down(node)
        self.run(node, ["rm", "-rf", "/run/sshd.pid", "/run/postgresql/.s.PGSQL.5432.lock"], check=False)
        self.run(node, ["ip", "link", "set", self.layout.interface, "up"])
        self.start_sshd(node)
        for unit in SERVICES:  # what systemd would start at boot: only what is enabled
            if self.systemctl(node, "is-enabled", unit, check=False).stdout.strip() == "enabled":
                self.systemctl(node, "start", unit, check=False)

    # ------------------------------------------------------------------ status and teardown
    def alive(self) -> bool:
        pids = self._state.get("pids", {})
        assert isinstance(pids, dict)
        return bool(pids) and all(system.pid_alive(int(p), NODEINIT_MARKER) for p in pids.values())

    def has_dead_nodes(self) -> bool:
        """True for a lab that started nodes which are all gone (left by a killed run)."""
        pids = self._state.get("pids", {})
        assert isinstance(pids, dict)
        return bool(pids) and not any(system.pid_alive(int(p), NODEINIT_MARKER) for p in pids.values())

    def status(self) -> dict[str, object]:
        """What is up: per node its init, VIP, storage and service states (read from the nodes)."""
        nodes: dict[str, object] = {}
        for node in NODE_NAMES:
            try:
                pid = self.pid(node)
            except LabError as exc:
                nodes[node] = {"running": False, "error": str(exc)}
                continue
            active = self.run(node, ["systemctl", "is-active", *SERVICES], check=False).stdout.split()
            enabled = self.run(node, ["systemctl", "is-enabled", *SERVICES], check=False).stdout.split()
            nodes[node] = {
                "running": True,
                "init_pid": pid,
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

    def down(self) -> float:
        """Remove everything this lab made, whatever state a build or a killed run left it in."""
        start = time.monotonic()
        lay = self.layout
        self._stop_control_masters()
        pids = self._state.get("pids", {})
        assert isinstance(pids, dict)
        for pid in pids.values():
            if system.pid_alive(int(pid), NODEINIT_MARKER):
                os.kill(int(pid), signal.SIGKILL)
        for pid in pids.values():
            _wait_gone(int(pid))
        self._end_stragglers()
        for launcher in self._launchers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                launcher.wait(timeout=5)
        self._launchers.clear()
        present = set(_netns_list())
        for ns in lay.namespaces:
            if ns in present:
                system.run(["ip", "netns", "delete", ns], check=False)
        if _is_mount_point(lay.base) and system.run(["umount", str(lay.base)], check=False).returncode != 0:
            system.run(["umount", "--lazy", str(lay.base)], check=False)
        with contextlib.suppress(OSError):
            lay.base.rmdir()
        with contextlib.suppress(OSError):
            lay.state_file.unlink()
        return time.monotonic() - start

    def _end_stragglers(self) -> None:
        """End processes a killed build left on the machine (initdb, ssh-keygen...): ours, since
        their command lines name this lab's private directory."""
        marker = str(self.layout.base).encode() + b"/"
        for _attempt in range(50):
            pids = [pid for pid in _pids() if marker in _cmdline(pid)]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def _stop_control_masters(self) -> None:
        """End ssh ControlMaster processes of this lab (ssh -O exit on each socket)."""
        cm = self.layout.control_dir
        if not cm.is_dir():
            return
        for sock in cm.iterdir():
            system.run(
                ["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", sock.name],
                check=False, timeout=10,
            )  # fmt: skip


# ---------------------------------------------------------------------- helpers
def preflight() -> None:
    """One-line refusal when this machine cannot host a lab."""
    if os.geteuid() != 0:
        raise LabUnsupported("xcatha-lab needs root (network, mount and PID namespaces)")
    if not Path("/proc/self/ns/net").exists() or not Path("/proc/self/ns/pid").exists():
        raise LabUnsupported("xcatha-lab needs a kernel with network, mount and PID namespaces")
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if not (Path(tool).exists() or shutil.which(tool))})
    if missing:
        raise LabUnsupported(f"xcatha-lab needs Debian packages: {' '.join(missing)} (run: bash scripts/setup.sh)")
    if importlib.util.find_spec("systemctl2") is None:
        raise LabUnsupported("xcatha-lab needs docker-systemctl-replacement (run: bash scripts/setup.sh)")


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


def _netns_list() -> Iterable[str]:
    netns_dir = Path("/run/netns")
    return [p.name for p in netns_dir.iterdir()] if netns_dir.is_dir() else []


def _is_mount_point(path: Path) -> bool:
    return os.path.ismount(path)


def _mount_point(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)

