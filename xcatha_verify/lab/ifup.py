"""Bring a lab node's interface up at boot from its ifcfg file (test equipment, in place of RHEL's
network scripts, which Debian does not have).

Run by the node's `xcatha-lab-network.service` as ``python -m xcatha_verify.lab.ifup IF FILE``.
It applies exactly what `net.static_ip_persistent` judges (xcatha_verify.facts.ifcfg): with
ONBOOT the link comes up, and with a static BOOTPROTO each IPADDRn/PREFIXn (or NETMASKn) is added.
Nothing else: in particular the VIP, which no persistent file names, never comes back at boot.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xcatha_verify.facts.ifcfg import parse_ifcfg


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m xcatha_verify.lab.ifup INTERFACE IFCFG_FILE", file=sys.stderr)
        return 2
    interface, path = args
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        print(f"{path}: no such file; {interface} stays down")
        return 0
    config = parse_ifcfg(text, path)
    for problem in config.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if config.device != interface or not config.onboot:
        print(f"{path}: DEVICE={config.device} ONBOOT={config.values.get('ONBOOT')}: {interface} stays down")
        return 0
    from pyroute2 import IPRoute  # late: the usage and file errors above need no netlink

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=interface)
        if not found:
            print(f"interface {interface} does not exist", file=sys.stderr)
            return 1
        index = found[0]
        ipr.link("set", index=index, state="up")
        for boot in config.boot_addresses(interface):
            ipr.addr("replace", index=index, address=str(boot.address), prefixlen=boot.prefix)
            print(f"{interface}: {boot.address}/{boot.prefix} (from {path})")
    if not config.boot_addresses(interface):
        print(f"{path}: BOOTPROTO={config.bootproto or '(unset)'}: {interface} up without a static address")
    return 0


if __name__ == "__main__":
    sys.exit(main())
