"""The virtual IP through netlink (pyroute2): read it, add it with its label, remove it.

These run on the node that owns the interface (or, for the lab, against a named network
namespace). Adding and removing are idempotent and report whether they changed anything.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import IPRoute, NetlinkError

from xcatha_verify import arp
from xcatha_verify.errors import XcathaError
from xcatha_verify.nodehelper import run_helper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Address:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    prefix: int
    label: str


class VipError(XcathaError, OSError):
    """The VIP could not be read or changed."""


@contextmanager
def _ipr(netns: str | None) -> Iterator[IPRoute]:
    # flags=0: open an existing namespace only; pyroute2's default would create a missing one.
    ipr = IPRoute(netns=netns, flags=0) if netns else IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _index(ipr: IPRoute, interface: str) -> int:
    found = ipr.link_lookup(ifname=interface)
    if not found:
        raise VipError(f"interface {interface} does not exist")
    return int(found[0])


def addresses(interface: str, netns: str | None = None) -> list[Address]:
    """Every address on `interface`, with its label."""
    with _ipr(netns) as ipr:
        index = _index(ipr, interface)
        return [
            Address(
                ipaddress.ip_address(msg.get_attr("IFA_ADDRESS")),
                int(msg["prefixlen"]),
                msg.get_attr("IFA_LABEL") or interface,
            )
            for msg in ipr.get_addr(index=index)
        ]


def add_vip(
    address: str, prefix: int, interface: str, label: str, netns: str | None = None
) -> bool:
    """Put the VIP on `interface` with `label`; False when it was already there exactly so."""
    wanted = Address(ipaddress.ip_address(address), prefix, label)
    with _ipr(netns) as ipr:
        index = _index(ipr, interface)
        try:
            ipr.addr("add", index=index, address=str(wanted.address), prefixlen=prefix, label=label)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise VipError(f"cannot add {address}/{prefix} to {interface}: {exc}") from exc
            present = addresses(interface, netns)
            if wanted in present:
                log.info("noop: VIP %s/%s already on %s", address, prefix, label)
                return False
            raise VipError(
                f"{address} is on {interface} but not as {address}/{prefix} label {label}: "
                f"{[f'{a.address}/{a.prefix} {a.label}' for a in present if a.address == wanted.address]}"
            ) from exc
    log.info("VIP %s/%s added on %s", address, prefix, label)
    return True


def remove_vip(address: str, prefix: int, interface: str, netns: str | None = None) -> bool:
    """Take the VIP off `interface`; False when it was not there."""
    with _ipr(netns) as ipr:
        index = _index(ipr, interface)
        try:
            ipr.addr("del", index=index, address=address, prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code == errno.EADDRNOTAVAIL:
                log.info("noop: VIP %s not on %s", address, interface)
                return False
            raise VipError(f"cannot remove {address}/{prefix} from {interface}: {exc}") from exc
    log.info("VIP %s/%s removed from %s", address, prefix, interface)
    return True


def gratuitous_arp(address: str, interface: str, count: int = arp.ANNOUNCEMENTS) -> bool:
    """Unsolicited ARP so neighbours' caches follow the VIP here; False when it could not be sent."""
    try:
        arp.announce(interface, address, count)
    except arp.ArpError as exc:
        log.warning("gratuitous ARP for %s on %s not sent: %s", address, interface, exc)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m xcatha_verify.vip up|down ADDRESS PREFIX INTERFACE [LABEL]`, run on the node itself."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[0] not in ("up", "down") or (args[0] == "up" and len(args) != 5):
        print("usage: python -m xcatha_verify.vip up ADDRESS PREFIX INTERFACE LABEL | down ADDRESS PREFIX INTERFACE",
              file=sys.stderr)  # fmt: skip
        return 2
    verb, address, prefix, interface = args[0], args[1], int(args[2]), args[3]

    def body() -> int:
        if verb == "up":
            changed = add_vip(address, prefix, interface, args[4])
            garp = gratuitous_arp(address, interface)
            print(f"{'added' if changed else 'already present:'} {address}/{prefix} on {args[4]}"
                  + ("" if garp else " (gratuitous ARP not sent)"))  # fmt: skip
        else:
            changed = remove_vip(address, prefix, interface)
            print(f"{'removed' if changed else 'already absent:'} {address}/{prefix} from {interface}")
        return 0

    return run_helper(body, VipError, "error", 1)


if __name__ == "__main__":
    sys.exit(main())
