"""The systemd units of a lab node, named as on a RHEL xCAT management node.

They are installed where packages install units, `/usr/lib/systemd/system` of the node (xCAT's own
service lookup searches only there and in /lib/systemd/system, and `systemctl mask` needs a unit
file there), and shadow Debian's units of the same name (postgresql.service, named.service).
Each is a real unit run by the node's real systemd; the daemons are Debian's, xcatd is xCAT's own,
and goconserver is the lab's one stand-in (test equipment, named so in its description).

Besides, the node's layer gets what a freshly installed management node has: systemd's own units
that act on hardware or the machine's kernel masked (a container has none of its own), the SysV
and postgresql-common generators off (the machine's /etc/init.d and its Debian cluster 15/main
must not start in a node), a small journal, tmpfiles for the daemons' run-time directories.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcatha_verify.facts.node import GOCONSERVER_BINARY  # where the checks look for it, and its package puts it
from xcatha_verify.lab.layer import Layer
from xcatha_verify.lab.layout import PG_BIN, PG_DATA

UNIT_DIR = "/usr/lib/systemd/system"
ENABLED_DIR = "/etc/systemd/system/multi-user.target.wants"
NETWORK_UNIT = "xcatha-lab-network"  # test equipment: applies the node's ifcfg at boot

# systemd units that would act on the machine's hardware or kernel, or wait for a terminal.
MASKED = (
    "systemd-modules-load.service", "kmod-static-nodes.service",
    "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-udev-settle.service",
    "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-journald-audit.socket", "systemd-sysctl.service", "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "sys-fs-fuse-connections.mount", "systemd-pstore.service",
    "console-getty.service", "getty@.service", "serial-getty@.service", "getty-static.service",
    "systemd-firstboot.service", "systemd-remount-fs.service", "e2scrub_reap.service",
    "systemd-timesyncd.service",
)  # fmt: skip
MASKED_GENERATORS = ("systemd-sysv-generator", "postgresql-generator")
# Run-time directories the RHEL packages create through tmpfiles.d (owner, mode).
TMPFILES = """\
# Run-time directories of the management node's daemons (xcatha-lab; on RHEL each package ships its line).
d /run/postgresql 2775 postgres postgres -
d /run/named 0775 bind bind -
d /run/chrony 0750 _chrony _chrony -
d /run/dhcp-server 0755 root root -
d /run/conserver 0755 root root -
d /run/xcatha-ssh 0700 root root -
"""
JOURNALD = "[Journal]\nSystemMaxUse=16M\nRuntimeMaxUse=16M\n"


@dataclass(frozen=True)
class Unit:
    name: str
    description: str
    exec_start: str
    type: str = "simple"
    user: str | None = None
    exec_start_pre: tuple[str, ...] = ()
    extra_service: tuple[str, ...] = ()  # further [Service] lines
    extra_unit: tuple[str, ...] = ()  # further [Unit] lines
    wanted_by: str = "multi-user.target"

    def text(self) -> str:
        service = [f"Type={self.type}", *([f"User={self.user}"] if self.user else []),
                   *(f"ExecStartPre={pre}" for pre in self.exec_start_pre), f"ExecStart={self.exec_start}",
                   *self.extra_service]  # fmt: skip
        return "\n".join([
            f"# {self.name}.service of a lab node (xcatha-lab).",
            "[Unit]", f"Description={self.description}", *self.extra_unit, "",
            "[Service]", *service, "",
            "[Install]", f"WantedBy={self.wanted_by}", "",
        ])  # fmt: skip


def node_units(python: str, interface: str) -> list[Unit]:
    """The lab's units. xcatd.service is xCAT's own (written by provision.py); named reads the config
    `makedns -n` writes on Debian (/etc/bind/named.conf, named's default). No tftp unit: on a management
    node xcatd runs in.tftpd itself (AAsn.pm stops any other at xcatd's start)."""
    network_config = f"/etc/sysconfig/network-scripts/ifcfg-{interface}"
    return [
        Unit(
            NETWORK_UNIT,
            f"Apply {network_config} at boot (xcatha-lab test equipment in place of RHEL's network scripts)",
            f"{python} -m xcatha_verify.lab.ifup {interface} {network_config}",
            type="oneshot", extra_service=("RemainAfterExit=yes",),
            extra_unit=("DefaultDependencies=no", "Before=network.target sshd.service", "Wants=network.target",
                        "After=local-fs.target"),
        ),
        Unit(
            "sshd", "OpenSSH server (real daemon)", "/usr/sbin/sshd -D -f /etc/ssh/lab_sshd_config",
            type="notify",  # Debian's sshd tells systemd when it listens
            extra_service=("RuntimeDirectory=sshd", "RuntimeDirectoryPreserve=yes",
                           "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=process"),
            extra_unit=("After=network.target",),
        ),
        Unit(
            "postgresql", "PostgreSQL 15 on the shared data directory (real server)",
            f"{PG_BIN}/postgres -D {PG_DATA}", type="notify", user="postgres",
            extra_service=("ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "KillSignal=SIGINT",
                           "TimeoutSec=120"),
            extra_unit=("After=network.target",),
        ),
        Unit("named", "BIND 9 (real daemon, configured by makedns -n)", "/usr/sbin/named -f -u bind", type="notify"),
        Unit(
            "dhcpd", "ISC DHCP server (real daemon, configured by makedhcp -n)",
            f"/usr/sbin/dhcpd -f -4 -q -cf /etc/dhcp/dhcpd.conf -lf /var/lib/dhcp/dhcpd.leases "
            f"-pf /run/dhcp-server/dhcpd.pid {interface}",
            exec_start_pre=("/usr/bin/touch /var/lib/dhcp/dhcpd.leases",),
        ),
        Unit("chronyd", "chrony (real daemon; -x: it never sets the clock)",
             "/usr/sbin/chronyd -d -x -f /etc/chrony/chrony.conf"),
        Unit("httpd", "Apache httpd serving /install (real daemon: Debian's apache2, xCAT's Alias /install)",
             # $$: a literal $ for the shell (systemd expands $NAME itself).
             "/bin/sh -c '. /etc/apache2/envvars && mkdir -p \"$${APACHE_RUN_DIR}\" \"$${APACHE_LOCK_DIR}\" "
             "\"$${APACHE_LOG_DIR}\" && exec /usr/sbin/apache2 -D FOREGROUND'",
             extra_unit=("After=network.target",)),
        Unit("conserver", "conserver (real daemon, configured by makeconservercf)",
             "/usr/sbin/conserver -C /etc/conserver.cf"),
        Unit("goconserver", "goconserver (lab stand-in: xCAT's REST API on 12429 and console port 12430; "
             "test equipment)", GOCONSERVER_BINARY, type="notify"),
    ]


def install(layer: Layer, units: list[Unit], enabled: tuple[str, ...]) -> None:
    """Write the units and the base system's settings into a node's layer (before its first boot)."""
    # The machine's enablement links (ssh, chrony, timers...) stay invisible: only the node's own count.
    layer.opaque_dir("/etc/systemd/system")
    layer.symlink("/etc/systemd/system/default.target", f"{UNIT_DIR}/multi-user.target")
    for masked in MASKED:
        layer.symlink(f"/etc/systemd/system/{masked}", "/dev/null")
    for generator in MASKED_GENERATORS:
        layer.symlink(f"/etc/systemd/system-generators/{generator}", "/dev/null")
    layer.write("/etc/systemd/journald.conf.d/xcatha-lab.conf", JOURNALD)
    layer.write("/etc/tmpfiles.d/xcatha-lab.conf", TMPFILES)
    for unit in units:
        layer.write(f"{UNIT_DIR}/{unit.name}.service", unit.text())
    # The network unit is part of the "distribution": statically wanted, not a site's enablement.
    layer.symlink(f"{UNIT_DIR}/multi-user.target.wants/{NETWORK_UNIT}.service", f"../{NETWORK_UNIT}.service")
    for name in enabled:
        layer.symlink(f"{ENABLED_DIR}/{name}.service", f"{UNIT_DIR}/{name}.service")
