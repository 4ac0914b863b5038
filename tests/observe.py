"""What a test can see of a lab node from the outside: one snapshot per node, compared around faults."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import PG_DATA, SERVICES, SHARED_PATHS


def _probe_ssh(lab: Lab, node: str) -> bool:
    """An SSH banner from the node's sshd, asked from the lab's switch namespace."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    s=socket.create_connection(({str(lab.layout.static_ip(node))!r},22),timeout=2)\n"
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


def snapshot(lab: Lab, node: str) -> dict[str, object]:
    ip = str(lab.layout.static_ip(node))
    listen = [line for line in _pg_file(lab, "postgresql.conf").splitlines() if line.startswith("listen_addresses")]
    run = lab.run
    node_epoch = float(run(node, ["date", "+%s.%N"]).stdout)
    return {
        "vip": lab.holds_vip(node),
        "storage": [p for p in SHARED_PATHS if lab.is_mounted(node, p)],
        "active": run(node, ["systemctl", "is-active", *SERVICES], check=False).stdout.split(),
        "enabled": run(node, ["systemctl", "is-enabled", *SERVICES], check=False).stdout.split(),
        "hosts": hashlib.sha256(lab.path(node, "/etc/hosts").read_bytes()).hexdigest(),
        "clock_skewed": abs(node_epoch - time.time()) > 5,
        "pg_listen": bool(listen) and ip in listen[-1],
        "pg_hba": f" {ip}/" in _pg_file(lab, "pg_hba.conf"),
        "xcatd_answers": run(node, ["timeout", "5", "lsxcatd", "-a"], check=False).returncode == 0,
        "pg_socket_dir_ok": run(
            node, ["runuser", "-u", "postgres", "--", "sh", "-c", "touch /run/postgresql/.p && rm /run/postgresql/.p"],
            check=False,
        ).returncode == 0,
        "sshd_answers": _probe_ssh(lab, node),
        "link_up": _link_up(lab, node),
    }


