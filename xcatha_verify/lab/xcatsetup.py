"""xCAT's one-time set-up on the lab's shared data, with xCAT's own scripts (the "real" flavour).

Run once by `xcatha-lab up` on xcatmn1 before the pair is activated, as a site sets up its first
management node: the VIP and shared data up for the moment, PostgreSQL started on the shared data
directory, then `xcatconfig -c` (xCAT's CA, server and root client certificates, in the shared
/etc/xcat and /root/.xcat) and `xcatconfig -d` (the tables), xcatd started, the site table's
master and nameservers set to the VIP (the seed's setting), the lab network's mgtifname set to the
VIP label, the compute nodes defined (and in both nodes' /etc/hosts). Then everything is stopped and
taken down again, so the activate runbook starts from a deactivated pair.

What that leaves is kept between labs (snapshot.py): a lab whose layout was set up before skips it,
unpacking the result before its nodes boot (`database.create`) and installing the node files on
both nodes here. Either way both nodes end with what xCAT's set-up leaves on a node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from xcatha_verify.lab import snapshot
from xcatha_verify.lab.access import mgt_network_name
from xcatha_verify.lab.layout import COMPUTE_NODES, NODE_NAMES, SHARED_PATHS

if TYPE_CHECKING:
    from xcatha_verify.lab.lab import Lab

log = logging.getLogger(__name__)

# The lab's compute nodes (names, last octet, MAC): enough for DNS, DHCP and console definitions.
XCAT_ENV = ("XCATROOT=/opt/xcat", "PERL_BADLANG=0")


def _xcat(lab: Lab, node: str, argv: Sequence[str], timeout: float = 300) -> str:
    """An xCAT command in the node, stdin closed (xCAT's set-up scripts ask questions otherwise)."""
    proc = lab.run(node, ["env", *XCAT_ENV, *argv], input_text="", timeout=timeout)
    log.debug("%s: %s", " ".join(argv), proc.stdout.strip()[-400:])
    return proc.stdout


def initialise(lab: Lab, node: str) -> None:
    lay = lab.layout
    lab.vip_up(node)
    lab.connect_storage(node)
    lab.systemctl(node, "start", "postgresql")
    _xcat(lab, node, ["xcatconfig", "-c"])
    _xcat(lab, node, ["xcatconfig", "-d"])
    lab.systemctl(node, "start", "xcatd")
    vip = str(lay.vip)
    # No forwarders: DNS questions the lab cannot answer stay unanswered, inside the lab.
    _xcat(lab, node, ["chdef", "-t", "site", "clustersite", f"master={vip}", f"nameservers={vip}", "forwarders="])
    net = lay.subnet
    _xcat(lab, node, ["chdef", "-t", "network", "-o", mgt_network_name(lay), f"net={net.network_address}",
                      f"mask={net.netmask}", f"mgtifname={lay.label}"])  # fmt: skip
    for name, _octet, mac in COMPUTE_NODES:
        _xcat(lab, node, ["mkdef", "-f", "-t", "node", "-o", name, "groups=all,compute",
                          f"ip={lay.compute_ip(name)}", f"mac={mac}", "cons=ipmi", "mgt=ipmi",
                          f"bmc={lay.compute_ip(name) + 100}"])  # fmt: skip
    _xcat(lab, node, ["makehosts", "compute"])
    # Back to a deactivated node: the activate runbook does the rest, as on every failover.
    for unit in ("xcatd", "postgresql"):
        lab.systemctl(node, "stop", unit)
    for path in reversed(SHARED_PATHS):
        lab.run(node, ["umount", path])
    lab.vip_down(node)
    node_files = snapshot.read_node_files(lab.path(node, "/"))
    snapshot.save(lab.layout, node_files, snapshot.path_for(lab.layout))
    # As the seed asks: /etc/hosts the same on both management nodes (and xCAT's files on both).
    for other in (n for n in NODE_NAMES if n != node):
        install_node_files(lab, other, node_files)


def install_node_files(lab: Lab, node: str, node_files: snapshot.NodeFiles) -> None:
    """The node-local files of xCAT's set-up on `node`; the conserver user made as xcatconfig makes it."""
    if any(path.startswith("/home/conserver/") for path in node_files.files):
        lab.run(node, ["sh", "-c", "getent group conserver >/dev/null || groupadd --system conserver; "
                       "getent passwd conserver >/dev/null || "
                       "useradd --system -g conserver -s /bin/bash -d /home/conserver -m conserver"])  # fmt: skip
    for path, (mode, data) in sorted(node_files.files.items()):
        target = lab.path(node, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
    lab.run(node, ["sh", "-c", "[ ! -d /home/conserver/.xcat ] || chown -R conserver: /home/conserver/.xcat"])
