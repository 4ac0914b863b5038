"""What a test can see of a lab node from the outside, independent of the checks under test.

Nothing here imports the checks or their facts: the lab's healthy baseline (after `up`, after a
failover the lab's own runbook steps made) is judged by these plain reads (netlink, mountpoint,
systemctl, psql, a TCP banner), so a bug shared by a runbook and a check cannot hide itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import DB_NAME, DB_USER, DOMAIN, PG_DATA, PROBE_FILE, SERVICES, SHARED_PATHS

NODES = ("xcatmn1", "xcatmn2")
# What only a running node can tell; None in the snapshot of a node that is off or frozen.
INSIDE_KEYS = ("vip", "storage", "active", "enabled", "hosts", "clock_skewed", "pg_listen", "pg_hba",
               "xcatd_answers", "pg_socket_dir_ok", "xcat_version", "named_processes", "pg_hba_rejects",
               "pg_data_version", "pg_listening", "dhcpd_conf_is_xcats", "named_answers",
               "http_listening", "xcatd_port_listening", "storage_record")  # fmt: skip


def _probe_ssh(lab: Lab, node: str) -> bool:
    """An SSH banner from the node's sshd, asked from the lab's switch namespace."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    s=socket.create_connection(({str(lab.layout.static_ip(node))!r},22),timeout=2)\n"
        "    s.settimeout(2)\n"
        "    sys.exit(0 if s.recv(8).startswith(b'SSH-') else 1)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    argv = ["nsenter", f"--net=/run/netns/{lab.layout.switch_ns}", "python3", "-c", code]
    return subprocess.run(argv, check=False, timeout=10).returncode == 0


def _link_up(lab: Lab, node: str) -> bool:
    out = subprocess.run(
        ["ip", "-n", lab.layout.node_ns(node), "-j", "link", "show", lab.layout.interface],
        capture_output=True, text=True, check=True,
    ).stdout
    return "UP" in json.loads(out)[0]["flags"]


def _pg_file(lab: Lab, name: str) -> str:
    return (lab.layout.shared_dir("/var/lib/pgsql") / PG_DATA.removeprefix("/var/lib/pgsql/") / name).read_text()


def ssh(lab: Lab, node: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A command in root's SSH session on the node, as an admin (or a check) runs it."""
    return subprocess.run(["ssh", "-F", str(lab.layout.ssh_config), "-o", "ControlPath=none", node, command],
                          capture_output=True, text=True, check=False, timeout=timeout)  # fmt: skip


def _first_line(lab: Lab, node: str, path: str) -> str:
    try:
        return lab.path(node, path).read_text().partition("\n")[0]
    except FileNotFoundError:
        return ""


def snapshot(lab: Lab, node: str) -> dict[str, object]:
    outside: dict[str, object] = {
        "power": lab.power_state(node), "sshd_answers": _probe_ssh(lab, node), "link_up": _link_up(lab, node),
    }  # fmt: skip
    if outside["power"] != "on":
        return {**dict.fromkeys(INSIDE_KEYS), **outside}
    ip = str(lab.layout.static_ip(node))
    listen = [line for line in _pg_file(lab, "postgresql.conf").splitlines() if line.startswith("listen_addresses")]
    run = lab.run
    date = ssh(lab, node, "date +%s.%N", timeout=10) if outside["sshd_answers"] and outside["link_up"] else None
    return {
        "vip": lab.holds_vip(node),
        "storage": [p for p in SHARED_PATHS if lab.is_mounted(node, p)],
        "active": run(node, ["systemctl", "is-active", *SERVICES], check=False).stdout.split(),
        "enabled": run(node, ["systemctl", "is-enabled", *SERVICES], check=False).stdout.split(),
        "hosts": hashlib.sha256(lab.path(node, "/etc/hosts").read_bytes()).hexdigest(),
        # What root's session on the node says the time is (where sshd cannot be reached: unknown).
        "clock_skewed": None if date is None or date.returncode else abs(float(date.stdout) - time.time()) > 5,
        "pg_listen": bool(listen) and ip in listen[-1],
        # Where the node's PostgreSQL really listens (the kernel's sockets), whatever its files say.
        "pg_listening": sorted(line.split()[3] for line in
                               run(node, ["ss", "-Hltn", "sport = :5432"]).stdout.splitlines()),
        "pg_hba": f" {ip}/" in _pg_file(lab, "pg_hba.conf"),
        "http_listening": bool(run(node, ["ss", "-Hltn", "sport = :80"]).stdout.strip()),
        # Whatever holds xcatd's port, xcatd or not.
        "xcatd_port_listening": sorted(line.split()[3] for line in
                                       run(node, ["ss", "-Hltn", "sport = :3001"]).stdout.splitlines()),
        # The storage token this node recorded (its activation's, or the one it saw last).
        "storage_record": [line for line in run(node, ["cat", "/var/lib/xcatha/storage-id"], check=False)
                           .stdout.splitlines() if line.startswith("token=")],
        "dhcpd_conf_is_xcats": _first_line(lab, node, "/etc/dhcp/dhcpd.conf").startswith("#xCAT generated"),
        # named on the node itself, asked for the node's own name (where it does not run: refused at once).
        "named_answers": run(node, ["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1",
                                    f"{node}.{DOMAIN}"], check=False).stdout.split(),
        # The data directory's PG_VERSION as this node sees it ("" where the shared data is not connected).
        "pg_data_version": run(node, ["cat", f"{PG_DATA}/PG_VERSION"], check=False).stdout,
        "pg_hba_rejects": any(f" {ip}/" in line and line.split("#")[0].split()[-1:] == ["reject"]
                              for line in _pg_file(lab, "pg_hba.conf").splitlines()),
        "xcatd_answers": run(node, ["timeout", "5", "lsxcatd", "-a"], check=False).returncode == 0,
        # What xCAT's own library says its version is (Perl, not the checks' reading of the file).
        "xcat_version": run(node, ["perl", "-I/opt/xcat/lib/perl", "-MxCAT::Version", "-e",
                                   "print xCAT::Version->Version()"], check=False).stdout,
        # named's processes, whoever started them (systemd on the active node; nobody on the standby).
        # (How many, not their PIDs: a fault that restarts named under its unit changes the PID only.)
        "named_processes": len(run(node, ["pgrep", "-x", "named"], check=False).stdout.split()),
        "pg_socket_dir_ok": run(
            node, ["runuser", "-u", "postgres", "--", "sh", "-c", "touch /run/postgresql/.p && rm /run/postgresql/.p"],
            check=False,
        ).returncode == 0,
        **outside,
    }


def psql_via_vip(lab: Lab, sql: str, from_node: str) -> str:
    """psql on `from_node` (whose static IP pg_hba admits) to the database on the VIP, wherever it is."""
    conninfo = f"host={lab.layout.vip} dbname={DB_NAME} user={DB_USER} connect_timeout=5"
    script = f'PGPASSWORD="$(cat)" exec psql -X -A -t -v ON_ERROR_STOP=1 "{conninfo}" -c "$1"'
    return lab.run(from_node, ["sh", "-c", script, "psql", sql], input_text=lab.db_password).stdout.strip()


def role_problems(lab: Lab, active: str, console: str = "conserver") -> list[str]:
    """What differs from a healthy pair with `active` active and its peer standby (empty when healthy).

    `console`: the console server the active node runs (conserver, as the lab's console.lock says, or
    goconserver).
    """
    standby = next(n for n in NODES if n != active)
    problems = []
    a, s = snapshot(lab, active), snapshot(lab, standby)
    other_console = {"conserver": "goconserver", "goconserver": "conserver"}[console]
    expected_running = [s_ for s_ in SERVICES if s_ != other_console]
    running = [unit for unit, state in zip(SERVICES, a["active"] or [], strict=False) if state == "active"]
    checks = [
        (a["power"] == "on" and s["power"] == "on", f"power: {active} {a['power']}, {standby} {s['power']}"),
        (a["vip"] is True, f"{active} does not hold the VIP"),
        (s["vip"] is False, f"{standby} holds the VIP"),
        (a["storage"] == list(SHARED_PATHS), f"{active} has shared data {a['storage']}"),
        (s["storage"] == [], f"{standby} has shared data {s['storage']}"),
        (running == expected_running, f"{active} runs {running}, expected {expected_running}"),
        (set(s["active"] or []) <= {"inactive", "failed"}, f"{standby} services {s['active']}"),
        (set(a["enabled"] or []) | set(s["enabled"] or []) <= {"disabled", "masked"},
         f"enabled at boot: {active} {a['enabled']}, {standby} {s['enabled']}"),
        (a["xcatd_answers"] is True, f"xcatd on {active} does not answer"),
    ]
    problems += [message for ok, message in checks if not ok]
    if not problems:
        try:
            psql_via_vip(lab, "SELECT 1", from_node=standby)
        except Exception as exc:  # the message is the finding
            problems.append(f"the database does not answer through the VIP from {standby}: {exc}")
    return problems


def cluster_view(lab: Lab, names: tuple[str, ...] = ("cn1", "cn2")) -> dict[str, object]:
    """What the compute node cn1 sees of the pair, from its own namespace on the lab network.

    Its DHCP lease first (ISC dhclient, cn1's MAC, as at a node's boot): {"dhcp": address or None};
    with that address, each name asked of the VIP's DNS (dig): {"dns": {name: [addresses]}}, and the
    lab's probe file fetched from /install by HTTP and from /tftpboot by TFTP through the VIP:
    {"http": text or None, "tftp": text or None}. The address is taken off again, so the next look
    starts from a node without one.
    """
    ns, interface = lab.layout.compute_ns, lab.layout.interface
    run_dir = lab.layout.base / "cn1"
    run_dir.mkdir(exist_ok=True)
    lease = run_dir / "dhclient.leases"
    lease.unlink(missing_ok=True)
    # -d: in the foreground, so this process is the one to end (by its PID) once it is bound;
    # -sf /bin/true: the lease is only read here, nothing is configured by dhclient-script.
    client = subprocess.Popen(
        ["ip", "netns", "exec", ns, "dhclient", "-1", "-d", "-sf", "/bin/true", "-lf", str(lease),
         "-pf", str(run_dir / "dhclient.pid"), interface],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    address = None
    deadline = time.monotonic() + 30
    try:
        assert client.stderr is not None
        for line in client.stderr:
            if line.startswith("bound to "):
                address = line.split()[2]
                break
            if time.monotonic() > deadline:
                break
    finally:
        client.terminate()
        client.wait(timeout=10)
    view: dict[str, object] = {"dhcp": address, "dns": {}}
    if address is None:
        return view
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{address}/{lab.layout.prefix}", "dev", interface], check=True)
    try:
        for name in names:
            out = subprocess.run(
                ["ip", "netns", "exec", ns, "dig", "+short", "+time=2", "+tries=2", f"@{lab.layout.vip}",
                 f"{name}.{DOMAIN}", "A"], capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
            view["dns"][name] = out.stdout.split()  # type: ignore[index]
        # The provisioning services through the VIP: /install by HTTP (httpd), /tftpboot by TFTP (tftp).
        url = f"http://{lab.layout.vip}/install/{PROBE_FILE}"
        http = subprocess.run(
            ["ip", "netns", "exec", ns, "python3", "-c", "import sys, urllib.request\n"
             "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())", url],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        view["http"] = http.stdout if http.returncode == 0 else None
        fetched = run_dir / PROBE_FILE
        fetched.unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "exec", ns, "tftp", "-m", "binary", str(lab.layout.vip), "-c", "get",
                        PROBE_FILE, str(fetched)], capture_output=True, check=False, timeout=30)  # fmt: skip
        view["tftp"] = fetched.read_text() if fetched.exists() and fetched.stat().st_size else None
    finally:
        subprocess.run(["ip", "-n", ns, "addr", "flush", "dev", interface], check=False)
    return view


@contextlib.contextmanager
def claiming(namespace: str, interface: str, address: str, seconds: float = 2.0) -> Iterator[None]:
    """Another host claiming `address` while the block runs: RFC 5227 probes for it every 50 ms from
    `interface` in network namespace `namespace` (as a node activating at that moment would)."""
    claim = (
        "import socket,time\n"
        "from xcatha_verify.arp import ETH_P_ARP, ARP_REQUEST, arp_frame\n"
        "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(ETH_P_ARP))\n"
        f"s.bind(({interface!r},ETH_P_ARP))\n"
        "mac=s.getsockname()[4][:6]\n"
        f"for _ in range({int(seconds / 0.05)}):\n"
        f"    s.send(arp_frame(mac,ARP_REQUEST,bytes(4),bytes(map(int,{address!r}.split('.'))))); time.sleep(0.05)\n"
    )  # fmt: skip
    claimer = subprocess.Popen(["nsenter", f"--net=/run/netns/{namespace}", sys.executable, "-c", claim])
    try:
        time.sleep(0.3)  # its first probes are out
        yield
    finally:
        claimer.wait(timeout=seconds + 10)


def link_mac(namespace: str, interface: str) -> str:
    """`interface`'s hardware address in network namespace `namespace`, upper case as ARP tools print it."""
    out = subprocess.run(["ip", "-n", namespace, "-j", "link", "show", interface], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return str(json.loads(out)[0]["address"]).upper()
