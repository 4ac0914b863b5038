"""xCAT's one-time set-up on the lab's shared data, with xCAT's own scripts (the "real" flavour).

Run once by `xcatha-lab up` on xcatmn1 before the pair is activated, as a site sets up its first
management node: the VIP and shared data up for the moment, PostgreSQL started on the shared data
directory, then `xcatconfig -c` (xCAT's CA, server and root client certificates, in the shared
/etc/xcat and /root/.xcat) and `xcatconfig -d` (the tables), xcatd started, the site table's
master and nameservers set to the VIP (the seed's setting), the lab network's mgtifname set to the
VIP label, the compute nodes defined (and in both nodes' /etc/hosts). Then everything is stopped and
taken down again, so the activate runbook starts from a deactivated pair.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    # As the seed asks: /etc/hosts the same on both management nodes.
    hosts = lab.path(node, "/etc/hosts").read_text()
    for other in (n for n in NODE_NAMES if n != node):
        lab.write(other, "/etc/hosts", hosts)
    # Back to a deactivated node: the activate runbook does the rest, as on every failover.
    for unit in ("xcatd", "postgresql"):
        lab.systemctl(node, "stop", unit)
    for path in reversed(SHARED_PATHS):
        lab.run(node, ["umount", path])
    lab.vip_down(node)
