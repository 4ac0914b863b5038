"""ARP on the VIP's network: duplicate-address probes and announcements, sub-second, from a raw socket.

iputils' arping takes whole seconds between packets and lingers one more after the last: a
two-probe check costs two seconds, and `-i 0.2` is refused outright. Here the probe follows
RFC 5227 (sender 0.0.0.0, so nobody's cache learns anything) at 50 ms spacing; on a LAN a holder
answers within a millisecond, from its kernel, however busy it is (NetworkManager's default
address-conflict timeout is 200 ms for the same reason; RFC 5227's seconds allow for links that
are not a switched LAN). Another host's probe for the same address is reported too (RFC 5227
counts it as a conflict: two hosts claiming at once must both back off), but it does not end the
probing, since a holder's reply may still come; the caller tells its own pair's probes
(`xcatha-verify --all` checks both nodes at once) from a stranger's.

Run on the node that owns the interface (root, or CAP_NET_RAW):
``python -m xcatha_verify.arp probe IFACE ADDRESS`` prints arping's summary lines, so one parser
reads either tool; exit 0 when nobody answered, 1 when somebody did, 2 when it could not probe.
``python -m xcatha_verify.arp announce IFACE ADDRESS`` sends gratuitous ARP (after the VIP is up).
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

from xcatha_verify.nodehelper import run_helper

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ARP_REQUEST, ARP_REPLY = 1, 2
PACKET_OUTGOING = 4  # sll_pkttype of frames this host sent
# Three probes over 0.1 s, then 0.15 s more to listen: a quarter second in all, near NetworkManager's
# default; a lost frame costs one probe, not the verdict.
PROBES = 3
PROBE_INTERVAL_S = 0.05
LISTEN_AFTER_S = 0.15  # after the last probe
ANNOUNCEMENTS = 2
ANNOUNCE_INTERVAL_S = 0.1


class ArpError(Exception):
    """The interface cannot be used for ARP (missing, down, no permission)."""


@dataclass
class ProbeResult:
    sent: int = 0
    replies: list[tuple[str, str]] = field(default_factory=list)  # (what, MAC) of each conflicting packet

    def summary(self, address: str, interface: str) -> str:
        """The result in arping's words (`arping -D` prints the same lines)."""
        lines = [f"ARPING {address} from 0.0.0.0 {interface}"]
        lines += [f"{what} from {address} [{mac}]" for what, mac in self.replies]
        lines += [f"Sent {self.sent} probes ({self.sent} broadcast(s))", f"Received {len(self.replies)} response(s)"]
        return "\n".join(lines)


def _mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02X}" for b in mac)


def arp_frame(source_mac: bytes, op: int, sender_ip: bytes, target_ip: bytes, target_mac: bytes = ZERO_MAC) -> bytes:
    """A broadcast Ethernet frame carrying one ARP packet for IPv4 over Ethernet."""
    header = BROADCAST + source_mac + struct.pack("!H", ETH_P_ARP)
    return header + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + source_mac + sender_ip + target_mac + target_ip


def parse_arp(frame: bytes) -> tuple[int, bytes, bytes, bytes] | None:
    """(op, sender MAC, sender IP, target IP) of an ARP frame for IPv4 over Ethernet, else None."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    return op, frame[22:28], frame[28:32], frame[38:42]


def conflict(packet: tuple[int, bytes, bytes, bytes], own_mac: bytes, address: bytes) -> str | None:
    """What makes this ARP packet a conflict for `address` (RFC 5227 2.1.1), None when it is not one."""
    op, sender_mac, sender_ip, target_ip = packet
    if sender_mac == own_mac:
        return None
    if sender_ip == address:
        return "Unicast reply" if op == ARP_REPLY else "Announcement"
    if sender_ip == bytes(4) and target_ip == address and op == ARP_REQUEST:
        return "Probe"  # another host is claiming the address right now
    return None


def _open(interface: str) -> tuple[socket.socket, bytes]:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError as exc:
        raise ArpError(f"raw socket refused ({exc.strerror}): run as root or with CAP_NET_RAW") from None
    try:
        sock.bind((interface, ETH_P_ARP))
    except OSError as exc:
        sock.close()
        raise ArpError(f"cannot use interface {interface}: {exc.strerror or exc}") from None
    mac = sock.getsockname()[4][:6]
    return sock, mac


def _ipv4(address: str) -> bytes:
    try:
        return ipaddress.IPv4Address(address).packed
    except ValueError:
        raise ArpError(f"not an IPv4 address: {address!r}") from None


def probe(
    interface: str, address: str, probes: int = PROBES, interval: float = PROBE_INTERVAL_S,
    listen_after: float = LISTEN_AFTER_S,
) -> ProbeResult:  # fmt: skip
    """Send duplicate-address probes for `address`; stop at a holder's first packet (a reply or an
    announcement); another host's probe for it is recorded once and the probing goes on."""
    target = _ipv4(address)
    sock, mac = _open(interface)
    result = ProbeResult()
    try:
        start = time.monotonic()
        deadline = start + interval * (probes - 1) + listen_after
        while not any(what != "Probe" for what, _ in result.replies):
            now = time.monotonic()
            if result.sent < probes and now >= start + result.sent * interval:
                try:
                    sock.send(arp_frame(mac, ARP_REQUEST, bytes(4), target))
                except OSError as exc:
                    raise ArpError(f"cannot send on {interface}: {exc.strerror or exc}") from None
                result.sent += 1
                continue
            if now >= deadline:
                break
            wake = deadline if result.sent >= probes else min(deadline, start + result.sent * interval)
            ready, _, _ = select.select([sock], [], [], max(0.0, wake - now))
            if not ready:
                continue
            frame, where = sock.recvfrom(2048)
            packet = parse_arp(frame)
            if packet is None or where[2] == PACKET_OUTGOING:
                continue
            what = conflict(packet, mac, target)
            if what and (what, _mac_text(packet[1])) not in result.replies:
                result.replies.append((what, _mac_text(packet[1])))
    finally:
        sock.close()
    return result


def announce(interface: str, address: str, count: int = ANNOUNCEMENTS, interval: float = ANNOUNCE_INTERVAL_S) -> int:
    """Gratuitous ARP (RFC 5227 announcements) so neighbours' caches follow `address` here; how many went out."""
    ip = _ipv4(address)
    sock, mac = _open(interface)
    try:
        for i in range(count):
            if i:
                time.sleep(interval)
            sock.send(arp_frame(mac, ARP_REQUEST, ip, ip))
    except OSError as exc:
        raise ArpError(f"cannot send on {interface}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    return count


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in ("probe", "announce"):
        print("usage: python -m xcatha_verify.arp probe|announce INTERFACE ADDRESS", file=sys.stderr)
        return 2
    verb, interface, address = args

    def body() -> int:
        if verb == "probe":
            result = probe(interface, address)
            print(result.summary(address, interface))
            return 1 if result.replies else 0
        print(f"sent {announce(interface, address)} announcements for {address} on {interface}")
        return 0

    return run_helper(body, ArpError, "arp", 2)


if __name__ == "__main__":
    sys.exit(main())
