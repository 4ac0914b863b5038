"""What a node's disk holds before its first boot: a management node as a site installed it.

Written into the node's kept layer (layer.py) while the node is off: host name and machine-id,
/etc/hosts, the persistent network config of its static IP (never the VIP), chrony's config, an
fstab whose shared-data lines are `noauto` (the shared data is never mounted at boot), the
daemons' directories, the units (units.py), SSH access (access.py), what xCAT's packages put
outside /opt/xcat (the tree itself is bound at boot), the goconserver stand-in, and root's shell
start-up files of a fresh install.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import uuid
from pathlib import Path

from xcatha_verify.facts.node import GOCONSERVER_BINARY
from xcatha_verify.lab import access, database, units, xcatsource
from xcatha_verify.lab.layer import Layer
from xcatha_verify.lab.layout import DOMAIN, NODE_NAMES, SHARED_EXPORT, SHARED_PATHS, VIP_HOSTNAME, LabLayout
from xcatha_verify.lab.templating import render
from xcatha_verify.nodepaths import STORAGE_RECORD, node_python
from xcatha_verify.storage import first_token

# What the daemons' packages create on a RHEL management node (owner).
PACKAGE_DIRS = {"/var/named": "bind", "/var/lib/dhcp": "root", "/etc/dhcp": "root", "/etc/goconserver": "root"}
# Enabled at boot on every management node; the xCAT services never are (the seed's rule).
ENABLED_AT_BOOT = ("sshd",)


HTTPD_XCAT_CONF = """# xcatha-lab: what xCAT's own httpd config does on a RHEL management node
ServerName localhost
Alias /install /install
<Directory /install>
    Options Indexes FollowSymLinks
    Require all granted
</Directory>
"""


def hosts_file(layout: LabLayout) -> str:
    nodes = [{"name": n, "ip": str(layout.static_ip(n))} for n in NODE_NAMES]
    return render("hosts.j2", vip=layout.vip, vip_hostname=VIP_HOSTNAME, vip_short=VIP_HOSTNAME.split(".")[0],
                  nodes=nodes, domain=DOMAIN)  # fmt: skip


def fstab(layout: LabLayout) -> str:
    lines = [f"{SHARED_EXPORT}/{d} {p} none bind,noauto 0 0\n" for p, d in SHARED_PATHS.items()]
    return "# /etc/fstab of a lab node (xcatha-lab)\n# shared data: connected at activation, never at boot\n" + \
        "".join(lines)


def populate(layer: Layer, layout: LabLayout, node: str, storage_id: str) -> None:
    peer = next(n for n in NODE_NAMES if n != node)
    python = node_python()  # the project is bound into the nodes at its own path
    layer.write("/etc/hostname", f"{node}\n")
    layer.write("/etc/machine-id", f"{uuid.uuid4().hex}\n", mode=0o444)
    layer.write("/etc/hosts", hosts_file(layout))
    # Not the machine's resolv.conf: xcatconfig copies its nameservers into the site table's
    # forwarders, and named would then forward the cluster's queries out of the lab.
    layer.write("/etc/resolv.conf", f"search {DOMAIN}\nnameserver 127.0.0.1\n")
    netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{layout.prefix}").netmask)
    layer.write(f"/etc/sysconfig/network-scripts/ifcfg-{layout.interface}",
                render("ifcfg.j2", interface=layout.interface, netmask=netmask, ip=layout.static_ip(node)))
    layer.write("/etc/chrony/chrony.conf",
                render("chrony.conf.j2", node=node, peer_ip=layout.static_ip(peer), subnet=layout.subnet))
    layer.write("/etc/fstab", fstab(layout))
    # As xCAT's RPM sets httpd up (/etc/httpd/conf.d/xcat.conf): /install served as /install.
    layer.write("/etc/apache2/conf-enabled/xcat.conf", HTTPD_XCAT_CONF)
    for path in SHARED_PATHS:
        layer.mkdir(path)
    layer.mkdir(SHARED_EXPORT)
    for path, owner in PACKAGE_DIRS.items():
        layer.mkdir(path, owner=owner)
    # As if each node had seen the storage's first token; the first activation claims it.
    layer.write(STORAGE_RECORD, first_token(storage_id, database.SET_UP_BY).render())
    # A persistent journal on the node's disk (journald keeps it in /run otherwise): boots stay apart.
    layer.mkdir("/var/log/journal", mode=0o2755)
    units.install(layer, units.node_units(python, layout.interface), enabled=ENABLED_AT_BOOT)
    for path, (text, mode) in access.node_files(layout, node).items():
        layer.write(path, text, mode=mode)
    # goconserver's stand-in, as its package installs it: xCAT's makegocons and the checks look for it here.
    layer.write(GOCONSERVER_BINARY,
                f"#!{python}\n# goconserver stand-in of the lab (test equipment, not goconserver).\n"
                "from xcatha_verify.lab.standins.goconserver import main\n\nmain()\n", mode=0o755)  # fmt: skip
    _install_xcat(layer)
    _fresh_root_home(layer)


XCAT_ROOT = "/opt/xcat"  # bound read-only from the assembled tree (xcatsource.py); XCATROOT's default


def _install_xcat(layer: Layer) -> None:
    """What xCAT's packages put outside /opt/xcat on a management node (the tree itself is bound at boot)."""
    tree = xcatsource.assembled_tree()
    layer.write("/etc/xCATMN", "# This node is an xCAT management node (xCAT meta package; xcatha-lab).\n")
    layer.symlink("/usr/sbin/xcatd", f"{XCAT_ROOT}/sbin/xcatd")
    layer.write(f"{units.UNIT_DIR}/xcatd.service", (tree / "share/xcat/xcatd.service").read_text())
    layer.write("/etc/profile.d/xcat.sh", f"XCATROOT={XCAT_ROOT}\nPATH=$XCATROOT/bin:$XCATROOT/sbin:$PATH\n"
                                          "export XCATROOT PATH\nexport PERL_BADLANG=0\n")  # fmt: skip


# What bash reads when sshd runs a command (.bashrc) or a login shell starts: a fresh Debian root's.
SHELL_START_FILES = (".bashrc", ".profile")
SHELL_LOGIN_OVERRIDES = (".bash_profile", ".bash_login")  # bash prefers these to .profile


def _fresh_root_home(layer: Layer) -> None:
    """Root's shell start-up files of a fresh Debian install.

    The overlay shows the machine's /root, whose .bashrc may set up a developer's tools (pyenv's
    init alone starts dozens of processes, ~80 ms on every SSH command). A management node's root
    does not carry that, and the lab's timings must not either.
    """
    for name in SHELL_START_FILES:
        skel = Path("/etc/skel") / name
        layer.write(f"/root/{name}", skel.read_text() if skel.exists() else "", mode=0o644)
    for name in SHELL_LOGIN_OVERRIDES:
        # A character device 0/0 is overlayfs's whiteout: the machine's file is hidden in the node.
        if (Path("/root") / name).exists():
            whiteout = layer.path(f"/root/{name}")
            whiteout.unlink(missing_ok=True)
            os.mknod(whiteout, 0o600 | stat.S_IFCHR, 0)
