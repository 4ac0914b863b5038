"""How the lab is reached: SSH keys, host keys, ssh_config and the inventory, on the machine and in
each node (as a site sets up root's access between its management nodes).

The machine's ssh goes through a relay in the lab's switch namespace (relay.py), so the root
namespace's routing is never touched; inside a node, ssh goes straight to the peer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xcatha_verify.lab import system
from xcatha_verify.lab.layout import NODE_NAMES, PG_DATA, SERVICES, VIP_HOSTNAME, LabLayout
from xcatha_verify.lab.templating import render

NODE_XCATHA_DIR = "/etc/xcatha"  # where a site keeps xcatha-verify's inventory on each node
NODE_CONTROL_DIR = "/run/xcatha-ssh"


def make_keys(layout: LabLayout) -> None:
    """The client key (root's, on the machine and in both nodes) and each node's host key."""
    jobs = [(layout.ssh_dir / "id_ed25519", f"xcatha-lab-{layout.name}")]
    jobs += [(layout.node_dir(node) / "host_key", node) for node in NODE_NAMES]
    for path, comment in jobs:
        path.parent.mkdir(parents=True, exist_ok=True)
        system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def known_hosts(layout: LabLayout) -> str:
    return "".join(
        f"{node} {' '.join((layout.node_dir(node) / 'host_key.pub').read_text().split()[:2])}\n" for node in NODE_NAMES
    )


def ssh_config(layout: LabLayout, ssh_dir: Path, control_dir: Path, proxy: str | None) -> str:
    return render(
        "ssh_config.j2",
        lab=layout.name,
        nodes=[{"name": n, "ip": str(layout.static_ip(n))} for n in NODE_NAMES],
        hosts_pattern=" ".join(NODE_NAMES),
        identity=ssh_dir / "id_ed25519",
        known_hosts=ssh_dir / "known_hosts",
        proxy_command=proxy,
        control_dir=control_dir,
    )


def mgt_network_name(layout: LabLayout) -> str:
    """xCAT's netname for the lab network, e.g. 192_0_2_0-255_255_255_0."""
    net = layout.subnet
    return f"{str(net.network_address).replace('.', '_')}-{str(net.netmask).replace('.', '_')}"


def inventory(layout: LabLayout, ssh_config_path: Path) -> str:
    return render(
        "inventory.yml.j2",
        lab=layout.name,
        cluster=f"lab-{layout.name}",
        vip=layout.vip,
        prefix=layout.prefix,
        interface=layout.interface,
        label=layout.label,
        vip_hostname=VIP_HOSTNAME,
        ssh_config=ssh_config_path,
        nodes=[{"name": n, "ip": str(layout.static_ip(n))} for n in NODE_NAMES],
        network_config=f"/etc/sysconfig/network-scripts/ifcfg-{layout.interface}",
        services=SERVICES,
        pg_data=PG_DATA,
        mgt_network=mgt_network_name(layout),
    )


def write_machine_files(layout: LabLayout) -> None:
    """known_hosts, ssh_config and inventory for the machine's shell."""
    (layout.ssh_dir / "known_hosts").write_text(known_hosts(layout))
    proxy = f"nsenter --net=/run/netns/{layout.switch_ns} {sys.executable} -m xcatha_verify.lab.relay %h %p"
    layout.ssh_config.write_text(ssh_config(layout, layout.ssh_dir, layout.control_dir, proxy))
    layout.inventory.write_text(inventory(layout, layout.ssh_config))


def node_files(layout: LabLayout, node: str) -> dict[str, tuple[str, int]]:
    """node path -> (text, mode): sshd's config and host key, root's keys, the node's own inventory."""
    node_dir = Path(NODE_XCATHA_DIR)
    return {
        "/etc/ssh/lab_sshd_config": (render("sshd_config.j2", node=node), 0o644),
        "/etc/ssh/lab_host_ed25519_key": ((layout.node_dir(node) / "host_key").read_text(), 0o600),
        "/etc/ssh/lab_authorized_keys": ((layout.ssh_dir / "id_ed25519.pub").read_text(), 0o600),
        f"{NODE_XCATHA_DIR}/id_ed25519": ((layout.ssh_dir / "id_ed25519").read_text(), 0o600),
        f"{NODE_XCATHA_DIR}/known_hosts": (known_hosts(layout), 0o644),
        f"{NODE_XCATHA_DIR}/ssh_config": (ssh_config(layout, node_dir, Path(NODE_CONTROL_DIR), proxy=None), 0o644),
        f"{NODE_XCATHA_DIR}/inventory.yml": (inventory(layout, node_dir / "ssh_config"), 0o644),
    }
