"""The lab's network: a switch namespace with a bridge, one veth per node (its `eth0`), one for cn1.

The switch namespace also holds the runner's own address on the lab network (an "admin
workstation"): the machine's ssh reaches the nodes from there (relay.py), so the root namespace's
routing is never touched. Addresses are TEST-NET ones and never leave these namespaces.
"""

from __future__ import annotations

from xcatha_verify.lab import system
from xcatha_verify.lab.layout import COMPUTE_NODES, NODE_NAMES, LabLayout


def build(layout: LabLayout) -> None:
    """Namespaces, bridge and links; the nodes' addresses come from their own boot (ifcfg)."""
    system.run(["ip", "-batch", "-"], input_text="".join(f"netns add {ns}\n" for ns in layout.namespaces))
    sw = layout.switch_ns
    commands = [
        ["ip", "-n", sw, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", sw, "link", "set", "lo", "up"],
        ["ip", "-n", sw, "addr", "add", f"{layout.switch_ip}/{layout.prefix}", "dev", "br0"],
        ["ip", "-n", sw, "link", "set", "br0", "up"],
    ]
    for i, node in enumerate(NODE_NAMES, start=1):
        ns = layout.node_ns(node)
        port = f"port{i}"
        commands += [
            ["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", layout.interface, "netns", ns],
            ["ip", "-n", sw, "link", "set", port, "master", "br0", "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
        ]
    # cn1 on the lab network, with the MAC xCAT knows it by and no address: it asks DHCP, as at boot.
    _name, _octet, mac = COMPUTE_NODES[0]
    cn = layout.compute_ns
    commands += [
        ["ip", "-n", sw, "link", "add", "port-cn1", "type", "veth", "peer", "name", layout.interface, "netns", cn],
        ["ip", "-n", sw, "link", "set", "port-cn1", "master", "br0", "up"],
        ["ip", "-n", cn, "link", "set", layout.interface, "address", mac],
        ["ip", "-n", cn, "link", "set", layout.interface, "up"],
        ["ip", "-n", cn, "link", "set", "lo", "up"],
    ]
    for argv in commands:
        system.run(argv)


def remove(layout: LabLayout) -> None:
    present = system.netns_list()
    for ns in layout.namespaces:
        if ns in present:
            system.run(["ip", "netns", "delete", ns], check=False)
