"""Fault injection for the lab: each fault breaks one thing on the node it names, and can be repaired.

``inject(lab, name, node)`` and ``repair(lab, name, node)`` are the API; ``xcatha-lab fault NAME NODE``
and ``xcatha-lab repair NAME NODE`` the commands. What a repair needs (the original file, which
paths were mounted) is kept under the lab's tmpfs, so inject and repair may run in different processes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xcatha_verify.errors import LabError, UsageError
from xcatha_verify.facts.node import XCAT_VERSION_FILE
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import NODE_NAMES, PG_DATA, SHARED_PATHS
from xcatha_verify.nodepaths import STORAGE_ID_FILE, STORAGE_RECORD, node_python

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLOCK_SKEW = "+30s"
# Prepended to root's .bashrc, above its "not interactive: stop here" line (bash reads .bashrc for
# every command sshd runs): every command of root's SSH sessions sees the skewed clock, and only they.
CLOCK_SKEW_MARK = "# xcatha-lab fault clock-skew"
CLOCK_SKEW_LINES = f"export LD_PRELOAD={FAKETIME_LIB} FAKETIME={CLOCK_SKEW}  {CLOCK_SKEW_MARK}\n"
ROGUE_HOSTS_LINE = "192.0.2.99\trogue.cluster.test rogue\n"
# hosts-stale-address: the address the peer's line says instead of the peer's static IP (an old one).
STALE_ADDRESS = "192.0.2.98"
SERVICE_ENABLED = "dhcpd"
# pg-data-version-differs: the major the shared data directory's PG_VERSION says (the lab runs 15).
OTHER_PG_MAJOR = "14"
# daemon-by-hand: the daemon started outside systemd, as an admin might start it by hand.
DAEMON_BY_HAND = "named"
# xcat-version-differs: where it keeps its changed copy of xCAT's Version.pm, and the version the copy says.
XCAT_VERSION_COPY = "/run/xcatha-fault-Version.pm"
OTHER_XCAT_VERSION = "2.18.0"


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    inject: Callable[[Lab, str], None]
    repair: Callable[[Lab, str], None]


def _saved(lab: Lab, fault: str, node: str) -> Path:
    directory = lab.layout.base / "faults"
    directory.mkdir(exist_ok=True)
    return directory / f"{fault}-{node}.json"


def _save(lab: Lab, fault: str, node: str, data: dict[str, object]) -> None:
    _saved(lab, fault, node).write_text(json.dumps(data))


def _take(lab: Lab, fault: str, node: str) -> dict[str, object]:
    path = _saved(lab, fault, node)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"fault {fault} was not injected on {node}") from None
    path.unlink()
    return dict(data)


# ---------------------------------------------------------------------- VIP
def _vip_also(lab: Lab, node: str) -> None:
    lab.vip_up(node)


def _vip_also_repair(lab: Lab, node: str) -> None:
    lab.vip_down(node)


# ---------------------------------------------------------------------- storage
def _storage_lost(lab: Lab, node: str) -> None:
    mounted = [p for p in SHARED_PATHS if lab.is_mounted(node, p)]
    # Lazy: what a node sees when its storage goes away under running services.
    for path in mounted:
        lab.run(node, ["umount", "--lazy", path])
    _save(lab, "storage-disconnected", node, {"mounted": mounted})


def _storage_lost_repair(lab: Lab, node: str) -> None:
    data = _take(lab, "storage-disconnected", node)
    if data["mounted"]:
        lab.connect_storage(node)


HELD_PORT = 3001  # xcatd's
# Test equipment: a program that is none of the pair's services, holding a port on every address.
PORT_HOLDER = ("import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
               f"s.bind(('0.0.0.0', {HELD_PORT})); s.listen(); time.sleep(86400)")


def _port_held(lab: Lab, node: str) -> None:
    script = ('setsid -f python3 -c "$1" </dev/null >/dev/null 2>&1; '
              f'for i in $(seq 50); do pid=$(ss -Hltnp "sport = :{HELD_PORT}" | grep -o "pid=[0-9]*" | head -1); '
              '[ -n "$pid" ] && break; sleep 0.1; done; echo "${pid#pid=}"')
    pid = lab.run(node, ["sh", "-c", script, "sh", PORT_HOLDER]).stdout.strip()
    if not pid.isdigit():
        raise LabError(f"nothing came to listen on {HELD_PORT} on {node}")
    _save(lab, "port-held", node, {"pid": int(pid)})


def _port_held_repair(lab: Lab, node: str) -> None:
    pid = _take(lab, "port-held", node)["pid"]
    # Only the program the fault started (a printed fix may have ended it already).
    lab.run(node, ["sh", "-c", f'if ps -o args= -p {pid} | grep -q "^python3 -c"; then kill {pid}; fi'])


def _storage_claimed(lab: Lab, node: str) -> None:
    """Connected beside the active node's and claimed: what an activation on both nodes at once leaves."""
    token = lab.layout.shared_dir("/etc/xcat") / STORAGE_ID_FILE
    record = lab.path(node, STORAGE_RECORD).read_text()
    _save(lab, "storage-claimed", node, {"token": token.read_text(), "record": record})
    _storage_also(lab, node)
    lab.run(node, [node_python(), "-m", "xcatha_verify.storage", "stamp", node, "/etc/xcat", *SHARED_PATHS])


def _storage_claimed_repair(lab: Lab, node: str) -> None:
    saved = _take(lab, "storage-claimed", node)
    (lab.layout.shared_dir("/etc/xcat") / STORAGE_ID_FILE).write_text(str(saved["token"]))
    lab.write(node, STORAGE_RECORD, str(saved["record"]))
    _storage_also_repair(lab, node)


# ---------------------------------------------------------------------- services
def _storage_also(lab: Lab, node: str) -> None:
    connected = [p for p in SHARED_PATHS if not lab.is_mounted(node, p)]
    lab.connect_storage(node)  # beside the active node's: both see (and could write) the same files
    _save(lab, "storage-also", node, {"connected": connected})


def _storage_also_repair(lab: Lab, node: str) -> None:
    connected = _take(lab, "storage-also", node)["connected"]
    for path in reversed(connected if isinstance(connected, list) else []):
        if lab.is_mounted(node, str(path)):  # a printed fix may have unmounted it already
            lab.run(node, ["umount", str(path)])


def _enabled(lab: Lab, node: str) -> None:
    lab.systemctl(node, "enable", SERVICE_ENABLED)


def _enabled_repair(lab: Lab, node: str) -> None:
    lab.systemctl(node, "disable", SERVICE_ENABLED)


def _xcatd_hung(lab: Lab, node: str) -> None:
    pid = _main_pid(lab, node, "xcatd")
    lab.run(node, ["kill", "-STOP", str(pid)])
    _save(lab, "xcatd-hung", node, {"pid": pid})


def _xcatd_hung_repair(lab: Lab, node: str) -> None:
    pid = _take(lab, "xcatd-hung", node)["pid"]
    lab.run(node, ["kill", "-CONT", str(pid)])


def _daemon_by_hand(lab: Lab, node: str) -> None:
    # Debian's named, started the way its unit would (user bind, the run directory it needs), but by
    # hand: it forks into the background, its unit stays inactive and systemctl knows nothing of it.
    script = ("install -d -o bind -g bind /run/named && named -u bind && "
              "for i in 1 2 3 4 5 6 7 8 9 10; do pid=$(pgrep -o -x named) && break; sleep 0.2; done; echo $pid")
    pid = lab.run(node, ["sh", "-c", script]).stdout.split()
    if not pid or not pid[-1].isdigit():
        raise LabError(f"named did not start by hand on {node}")
    _save(lab, "daemon-by-hand", node, {"pid": int(pid[-1])})


def _daemon_by_hand_repair(lab: Lab, node: str) -> None:
    pid = _take(lab, "daemon-by-hand", node)["pid"]
    # Gone already when the check's printed fix (kill PID) was applied; else ended, and waited for (5 s at most).
    lab.run(node, ["sh", "-c", f"kill {pid} 2>/dev/null; for i in $(seq 50); do kill -0 {pid} 2>/dev/null || exit 0; "
                   f"sleep 0.1; done; kill -9 {pid}"])  # fmt: skip


def _main_pid(lab: Lab, node: str, unit: str) -> int:
    out = lab.systemctl(node, "show", "-p", "MainPID", unit).stdout.strip().removeprefix("MainPID=")
    if not out.isdigit() or out == "0":
        raise LabError(f"{unit} is not running on {node}")
    return int(out)


def _pg_cannot_start(lab: Lab, node: str) -> None:
    # PostgreSQL needs its socket directory; a root-owned one stops it at start, as on a
    # node whose tmpfiles setup went wrong.
    lab.run(node, ["chown", "root:root", "/run/postgresql"])
    lab.run(node, ["chmod", "0755", "/run/postgresql"])


def _pg_cannot_start_repair(lab: Lab, node: str) -> None:
    lab.run(node, ["chown", "postgres:postgres", "/run/postgresql"])
    lab.run(node, ["chmod", "2775", "/run/postgresql"])


# ---------------------------------------------------------------------- PostgreSQL configuration (on shared storage)
def _pg_file(lab: Lab, name: str) -> Path:
    return lab.layout.shared_dir("/var/lib/pgsql") / Path(PG_DATA).relative_to("/var/lib/pgsql") / name


def _edit_shared(lab: Lab, fault: str, node: str, name: str, edit: Callable[[str, str], str]) -> None:
    path = _pg_file(lab, name)
    original = path.read_text()
    changed = edit(original, str(lab.layout.static_ip(node)))
    if changed == original:
        raise LabError(f"{fault}: {name} does not mention {node}'s static IP; nothing to break")
    _save(lab, fault, node, {"file": name, "original": original})
    path.write_text(changed)


def _pg_data_version_differs(lab: Lab, node: str) -> None:
    # As if the data directory had been made by another major. The running server read PG_VERSION
    # when it started and never again, so it goes on; what changes is what the next start would find.
    if not lab.is_mounted(node, "/var/lib/pgsql"):
        raise LabError(f"pg-data-version-differs: {node} does not have the shared data connected")
    path = _pg_file(lab, "PG_VERSION")
    _save(lab, "pg-data-version-differs", node, {"file": "PG_VERSION", "original": path.read_text()})
    path.write_text(OTHER_PG_MAJOR + "\n")


def _restore_shared(lab: Lab, fault: str, node: str) -> None:
    data = _take(lab, fault, node)
    _pg_file(lab, str(data["file"])).write_text(str(data["original"]))


def _drop_from_listen(text: str, ip: str) -> str:
    def without(match: re.Match[str]) -> str:
        members = [m for m in match.group(2).split(",") if m.strip() != ip]
        return f"{match.group(1)}{','.join(members)}{match.group(3)}"

    return re.sub(r"^(\s*listen_addresses\s*=\s*')([^']*)(')", without, text, flags=re.MULTILINE)


def _drop_from_hba(text: str, ip: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if f" {ip}/" not in line)


def _reject_in_hba(text: str, ip: str) -> str:
    """A reject for the address above everything: its own admitting line below is never reached."""
    return f"host all all {ip}/32 reject  # xcatha-lab fault pg-hba-rejects\n" + text



# pg-listen-command-line: a drop-in that starts the server with -c listen_addresses (which beats every file).
LISTEN_DROP_IN = "/etc/systemd/system/postgresql.service.d/xcatha-fault-listen.conf"


def _pg_listen_command_line(lab: Lab, node: str) -> None:
    # The lab's own unit runs postgres -D the data directory; the drop-in resets ExecStart and adds
    # -c listen_addresses with localhost and the VIP only, as a hand-made override might.
    command = lab.run(node, ["systemctl", "show", "-P", "ExecStart", "postgresql"]).stdout
    found = re.search(r"argv\[\]=(\S.*?) ;", command)
    if found is None:
        raise LabError(f"pg-listen-command-line: no ExecStart to extend in postgresql.service on {node}")
    lab.write(node, LISTEN_DROP_IN, f"[Service]\nExecStart=\nExecStart={found.group(1)} "
                                   f'-c "listen_addresses=localhost,{lab.layout.vip}"\n')
    lab.systemctl(node, "daemon-reload")
    lab.systemctl(node, "restart", "postgresql")


def _pg_listen_command_line_repair(lab: Lab, node: str) -> None:
    lab.path(node, LISTEN_DROP_IN).unlink(missing_ok=True)
    lab.systemctl(node, "daemon-reload")
    lab.systemctl(node, "restart", "postgresql")


def _pg_listen_not_applied(lab: Lab, node: str) -> None:
    # The server restarted while postgresql.conf lacked the node's static IP, and the file was put
    # right afterwards: the files are correct, the running server is not until its next restart.
    _edit_shared(lab, "pg-listen-not-applied", node, "postgresql.conf", _drop_from_listen)
    try:
        lab.systemctl(node, "restart", "postgresql")
    finally:
        _restore_shared(lab, "pg-listen-not-applied", node)


def _pg_restart(lab: Lab, node: str) -> None:
    lab.systemctl(node, "restart", "postgresql")



# ---------------------------------------------------------------------- what the xCAT commands generate
DHCPD_CONF = "/etc/dhcp/dhcpd.conf"
NAMED_CONF = "/etc/bind/named.conf"
FOREIGN_MARK = "xcatha-lab fault"


def _foreign_config(lab: Lab, fault: str, node: str, path: str, text: str, unit: str) -> None:
    """`path` on the node replaced by a configuration that is not xCAT's, and `unit` restarted on it."""
    target = lab.path(node, path)
    _save(lab, fault, node, {"original": target.read_text()})
    target.write_text(text)
    lab.systemctl(node, "restart", unit)


def _restore_config(lab: Lab, fault: str, node: str, path: str, unit: str) -> None:
    lab.path(node, path).write_text(str(_take(lab, fault, node)["original"]))
    lab.systemctl(node, "restart", unit)


def _dhcpd_foreign_config(lab: Lab, node: str) -> None:
    # What a reinstalled package leaves: a subnet for the node's network (dhcpd starts), nothing of xCAT's.
    net = lab.layout.subnet
    text = (f"# {FOREIGN_MARK} dhcpd-foreign-config: not makedhcp's\ndefault-lease-time 600;\n"
            f"subnet {net.network_address} netmask {net.netmask} {{\n}}\n")
    _foreign_config(lab, "dhcpd-foreign-config", node, DHCPD_CONF, text, "dhcpd")


def _named_foreign_config(lab: Lab, node: str) -> None:
    # named runs and answers, but knows none of the cluster's zones (no recursion: nothing leaves the lab).
    text = (f"// {FOREIGN_MARK} named-foreign-config: not makedns's\n"
            'options {\n\tdirectory "/var/named/";\n\trecursion no;\n};\n')
    _foreign_config(lab, "named-foreign-config", node, NAMED_CONF, text, "named")


# httpd-port-changed: Debian's apache2 configuration, node-local; the port httpd is moved to.
APACHE_PORTS = "/etc/apache2/ports.conf"
MOVED_HTTP_PORT = 8080


def _httpd_port_changed(lab: Lab, node: str) -> None:
    # The unit runs and answers, on a port the cluster's nodes do not use (an edit, a package's default).
    text = lab.path(node, APACHE_PORTS).read_text()
    moved = re.sub(r"^Listen 80$", f"Listen {MOVED_HTTP_PORT}", text, flags=re.MULTILINE)
    if moved == text:
        raise LabError(f"httpd-port-changed: no 'Listen 80' in {APACHE_PORTS} on {node}")
    _foreign_config(lab, "httpd-port-changed", node, APACHE_PORTS, moved, "httpd")


def _console_both(lab: Lab, node: str) -> None:
    # goconserver started beside the pair's conserver (console.lock names conserver): both serve the consoles.
    lab.systemctl(node, "start", "goconserver")


def _console_both_repair(lab: Lab, node: str) -> None:
    lab.systemctl(node, "stop", "goconserver")


# ---------------------------------------------------------------------- /etc/hosts, clock, reachability
def _edit_hosts(lab: Lab, fault: str, node: str, edit: Callable[[str], str]) -> None:
    """The node's /etc/hosts changed by `edit`; the original kept for _restore_hosts."""
    path = lab.path(node, "/etc/hosts")
    original = path.read_text()
    changed = edit(original)
    if changed == original:
        raise LabError(f"{fault}: nothing to change in /etc/hosts on {node}")
    _save(lab, fault, node, {"original": original})
    path.write_text(changed)


def _restore_hosts(lab: Lab, fault: str, node: str) -> None:
    lab.path(node, "/etc/hosts").write_text(str(_take(lab, fault, node)["original"]))


def _hosts_stale_address(lab: Lab, node: str) -> None:
    # The peer's line keeps an address it no longer has (renumbered, and this copy missed).
    peer = next(n for n in NODE_NAMES if n != node)
    own = re.escape(str(lab.layout.static_ip(peer)))
    _edit_hosts(lab, "hosts-stale-address", node,
                lambda text: re.sub(rf"^{own}(?=\s)", STALE_ADDRESS, text, count=1, flags=re.MULTILINE))


def _xcat_version_differs(lab: Lab, node: str) -> None:
    # The node's /opt/xcat is the shared assembled tree, bound read-only: a changed copy of the one
    # file that carries the version is bound over it, in this node's mount namespace only.
    text = lab.run(node, ["cat", XCAT_VERSION_FILE]).stdout
    changed = re.sub(r"('(?:Version )?'\s*\.\s*')[0-9][0-9.]*", rf"\g<1>{OTHER_XCAT_VERSION}", text)
    if changed == text:
        raise LabError(f"{XCAT_VERSION_FILE} on {node} carries no version this fault can change")
    lab.run(node, ["sh", "-c", 'cat > "$1" && mount --bind "$1" "$2"', "sh", XCAT_VERSION_COPY, XCAT_VERSION_FILE],
            input_text=changed)  # fmt: skip


def _xcat_version_differs_repair(lab: Lab, node: str) -> None:
    lab.run(node, ["sh", "-c", 'umount "$1" 2>/dev/null || true; rm -f "$2"', "sh", XCAT_VERSION_FILE,
                   XCAT_VERSION_COPY])  # fmt: skip


def _clock_skew(lab: Lab, node: str) -> None:
    # libfaketime for what the clock check reads (`date` in root's SSH sessions), not for the whole
    # node: preloaded into PID 1, journald, timers and sshd it would skew the machine the check runs
    # on in ways no real clock error does (and sshd's seccomp sandbox kills a child libfaketime makes
    # open files). The node's real clock sources (chronyd) stay untouched, as on a node whose RTC drifted.
    bashrc = lab.path(node, "/root/.bashrc")
    text = bashrc.read_text()
    if CLOCK_SKEW_MARK not in text:
        bashrc.write_text(CLOCK_SKEW_LINES + text)


def _clock_skew_repair(lab: Lab, node: str) -> None:
    bashrc = lab.path(node, "/root/.bashrc")
    bashrc.write_text("".join(line for line in bashrc.read_text().splitlines(keepends=True)
                              if CLOCK_SKEW_MARK not in line))  # fmt: skip


def _sshd_down(lab: Lab, node: str) -> None:
    # Every process of the unit, sessions included (systemctl kill signals the whole cgroup): a
    # stopped sshd whose old connections (ssh ControlMaster) lived on would leave the node reachable.
    lab.systemctl(node, "kill", "--signal=KILL", "sshd")
    lab.run(node, ["sh", "-c", "while systemctl -q is-active sshd; do sleep 0.05; done"])


def _sshd_down_repair(lab: Lab, node: str) -> None:
    lab.systemctl(node, "reset-failed", "sshd", check=False)
    lab.systemctl(node, "start", "sshd")


def _link_down(lab: Lab, node: str) -> None:
    lab.run(node, ["ip", "link", "set", lab.layout.interface, "down"])


def _link_down_repair(lab: Lab, node: str) -> None:
    lab.run(node, ["ip", "link", "set", lab.layout.interface, "up"])


def _node_hung(lab: Lab, node: str) -> None:
    lab.machine(node).freeze()


def _node_hung_repair(lab: Lab, node: str) -> None:
    lab.machine(node).thaw()


def _node_crashed(lab: Lab, node: str) -> None:
    # PID 1 dies at once: the kernel ends the node's every process, its NIC loses carrier.
    lab.power_off(node)


def _node_crashed_repair(lab: Lab, node: str) -> None:
    lab.power_on(node)


def _unreachable(lab: Lab, node: str) -> None:
    _sshd_down(lab, node)
    _link_down(lab, node)


def _unreachable_repair(lab: Lab, node: str) -> None:
    _link_down_repair(lab, node)
    _sshd_down_repair(lab, node)


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("vip-also", "the VIP is (also) configured on this node", _vip_also, _vip_also_repair),
        Fault("storage-disconnected", "the shared storage is gone from this node", _storage_lost, _storage_lost_repair),
        Fault("storage-also", "the shared storage is connected on this node too (beside the active node's)",
              _storage_also, _storage_also_repair),
        Fault("storage-claimed", "the shared storage is connected on this node too, and this node claimed it "
              "(a second activation: split brain)", _storage_claimed, _storage_claimed_repair),
        Fault("service-enabled", f"{SERVICE_ENABLED} is enabled at boot on this node", _enabled, _enabled_repair),
        Fault(
            "pg-listen-missing",
            "postgresql.conf listen_addresses lacks this node's static IP",
            lambda lab, node: _edit_shared(lab, "pg-listen-missing", node, "postgresql.conf", _drop_from_listen),
            lambda lab, node: _restore_shared(lab, "pg-listen-missing", node),
        ),
        Fault("pg-listen-command-line", "postgresql runs with -c listen_addresses (localhost and the VIP only) "
              "from a drop-in of its unit on this node", _pg_listen_command_line, _pg_listen_command_line_repair),
        Fault("pg-listen-not-applied", "the running server (restarted on this node) lacks this node's static IP; "
              "postgresql.conf has it again", _pg_listen_not_applied, _pg_restart),
        Fault("dhcpd-foreign-config", f"dhcpd runs on a {DHCPD_CONF} that is not makedhcp's on this node",
              _dhcpd_foreign_config, lambda lab, node: _restore_config(lab, "dhcpd-foreign-config", node, DHCPD_CONF,
                                                                       "dhcpd")),
        Fault("named-foreign-config", f"named runs on a {NAMED_CONF} without the cluster's zones on this node",
              _named_foreign_config, lambda lab, node: _restore_config(lab, "named-foreign-config", node, NAMED_CONF,
                                                                       "named")),
        Fault("httpd-port-changed", f"httpd runs, listening on {MOVED_HTTP_PORT} instead of 80, on this node",
              _httpd_port_changed, lambda lab, node: _restore_config(lab, "httpd-port-changed", node, APACHE_PORTS,
                                                                     "httpd")),
        Fault("console-both", "goconserver runs beside conserver, the pair's console server, on this node",
              _console_both, _console_both_repair),
        Fault(
            "pg-hba-missing",
            "pg_hba.conf has no entry for this node's static IP",
            lambda lab, node: _edit_shared(lab, "pg-hba-missing", node, "pg_hba.conf", _drop_from_hba),
            lambda lab, node: _restore_shared(lab, "pg-hba-missing", node),
        ),
        Fault(
            "pg-hba-rejects",
            "pg_hba.conf rejects this node's static IP above the line that admits it",
            lambda lab, node: _edit_shared(lab, "pg-hba-rejects", node, "pg_hba.conf", _reject_in_hba),
            lambda lab, node: _restore_shared(lab, "pg-hba-rejects", node),
        ),
        Fault("pg-data-version-differs",
              f"the shared data directory (connected on this node) says PostgreSQL {OTHER_PG_MAJOR} made it",
              _pg_data_version_differs, lambda lab, node: _restore_shared(lab, "pg-data-version-differs", node)),
        Fault("hosts-differ", "this node's /etc/hosts has an extra entry",
              lambda lab, node: _edit_hosts(lab, "hosts-differ", node, lambda text: text + ROGUE_HOSTS_LINE),
              lambda lab, node: _restore_hosts(lab, "hosts-differ", node)),
        Fault("hosts-stale-address", f"this node's /etc/hosts maps the peer's name to {STALE_ADDRESS}",
              _hosts_stale_address, lambda lab, node: _restore_hosts(lab, "hosts-stale-address", node)),
        Fault("xcat-version-differs", f"this node's xCAT says it is version {OTHER_XCAT_VERSION}",
              _xcat_version_differs, _xcat_version_differs_repair),
        Fault(
            "clock-skew", f"this node's clock runs {CLOCK_SKEW} ahead (libfaketime)", _clock_skew, _clock_skew_repair
        ),
        Fault(
            "xcatd-hung", "xcatd on this node is stopped (SIGSTOP) and answers nobody", _xcatd_hung, _xcatd_hung_repair
        ),
        Fault("pg-cannot-start", "PostgreSQL cannot start on this node", _pg_cannot_start, _pg_cannot_start_repair),
        Fault("port-held", f"a program that is none of the pair's services holds {HELD_PORT}/tcp (xcatd's) on this "
              "node", _port_held, _port_held_repair),
        Fault("daemon-by-hand", f"{DAEMON_BY_HAND} runs on this node, started by hand outside systemd",
              _daemon_by_hand, _daemon_by_hand_repair),
        Fault("sshd-down", "sshd is not running on this node", _sshd_down, _sshd_down_repair),
        Fault("link-down", "this node's interface is down", _link_down, _link_down_repair),
        Fault("unreachable", "sshd down and link down: the node cannot be reached", _unreachable, _unreachable_repair),
        Fault("node-hung", "every process of this node, PID 1 included, is frozen (cgroup.freeze)", _node_hung,
              _node_hung_repair),
        Fault("node-crashed", "this node's systemd (PID 1) died: the node is off until powered on", _node_crashed,
              _node_crashed_repair),
    )
}


def _fault(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise UsageError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}") from None


def inject(lab: Lab, name: str, node: str) -> None:
    fault = _fault(name)
    lab.pid(node)  # a clear error for an unknown node or one that is off
    fault.inject(lab, node)


def repair(lab: Lab, name: str, node: str) -> None:
    fault = _fault(name)
    if name != "node-crashed":  # the one repair that works on a node that is off
        lab.pid(node)
    fault.repair(lab, node)
