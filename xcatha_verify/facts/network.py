"""Addresses on a node's interfaces, from ``ip -j addr`` (structured output, not a grep)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from xcatha_verify.errors import XcathaError

IP_ADDR_COMMAND = "ip -j addr show"


class FactError(XcathaError, ValueError):
    """A node's output could not be understood."""


@dataclass(frozen=True)
class InterfaceAddress:
    interface: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    prefix: int
    label: str

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix} on {self.interface} label {self.label}"


def _links(text: str) -> list[object]:
    try:
        links = json.loads(text or "[]")
    except ValueError as exc:
        raise FactError(f"ip -j addr: not JSON: {exc}") from exc
    if not isinstance(links, list):
        raise FactError("ip -j addr: expected a JSON list of links")
    return links


def parse_link_macs(text: str) -> dict[str, str]:
    """Each interface's hardware address in ``ip -j addr show`` output, upper case as ARP tools print it."""
    return {link["ifname"]: str(link["address"]).upper() for link in _links(text)
            if isinstance(link, dict) and "ifname" in link and link.get("address")}  # fmt: skip


def parse_ip_addr_json(text: str) -> list[InterfaceAddress]:
    """Every address in ``ip -j addr show`` output; the label defaults to the interface name."""
    links = _links(text)
    found = []
    for link in links:
        if not isinstance(link, dict) or "ifname" not in link:
            continue  # ip prints {} for links that vanished while it ran
        for info in link.get("addr_info", []):
            try:
                address = ipaddress.ip_address(info["local"])
                prefix = int(info["prefixlen"])
            except (KeyError, ValueError, TypeError) as exc:
                raise FactError(f"ip -j addr: malformed address entry on {link['ifname']}: {info!r}") from exc
            found.append(InterfaceAddress(link["ifname"], address, prefix, info.get("label", link["ifname"])))
    return found
