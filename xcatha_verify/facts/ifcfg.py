"""RHEL's `ifcfg-IF` network scripts: which static addresses a file brings up at boot.

One reading of the file serves both the check that judges it (`net.static_ip_persistent`) and the
lab's boot-time test equipment that applies it, so the two can never disagree on the rules:

* ``ONBOOT`` yes (the default), true or 1: the interface comes up at boot; anything else: not.
* ``BOOTPROTO`` static or none (or unset): the addresses below are configured; dhcp, bootp or
  anything else: no static address at boot.
* ``IPADDR`` with ``PREFIX`` (or ``NETMASK``), and the numbered forms ``IPADDRn`` with ``PREFIXn``
  (or ``NETMASKn``); without a prefix or netmask the address's natural class prefix applies, as
  initscripts' ``ipcalc`` does.
* ``DEVICE`` names the interface; without it, the file name's ``ifcfg-IF`` suffix does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

STATIC_BOOTPROTOS = ("static", "none", "")
_NUMBERED = re.compile(r"^IPADDR(\d*)$")


@dataclass(frozen=True)
class BootAddress:
    address: ipaddress.IPv4Address
    prefix: int


@dataclass(frozen=True)
class IfcfgConfig:
    values: dict[str, str]
    device: str
    onboot: bool
    bootproto: str
    addresses: tuple[BootAddress, ...]
    problems: tuple[str, ...]  # values that do not parse, named for the report

    def boot_addresses(self, interface: str) -> tuple[BootAddress, ...]:
        """What this file configures on `interface` at boot (nothing when it is not for it)."""
        if self.device != interface or not self.onboot or self.bootproto not in STATIC_BOOTPROTOS:
            return ()
        return self.addresses

    def describe(self) -> str:
        shown = ", ".join(f"{a.address}/{a.prefix}" for a in self.addresses) or "no address"
        return f"DEVICE={self.device} ONBOOT={self.values.get('ONBOOT', '(unset)')} " \
               f"BOOTPROTO={self.values.get('BOOTPROTO', '(unset)')} {shown}"


def parse_values(text: str) -> dict[str, str]:
    """KEY=value lines (quotes removed, comments and blank lines skipped); the last one wins."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _natural_prefix(address: ipaddress.IPv4Address) -> int:
    first = int(address) >> 24
    return 8 if first < 128 else 16 if first < 192 else 24


def parse_ifcfg(text: str, filename: str) -> IfcfgConfig:
    values = parse_values(text)
    device = values.get("DEVICE") or filename.rsplit("/", 1)[-1].removeprefix("ifcfg-")
    addresses, problems = [], []
    for key in sorted(values, key=lambda k: (len(k), k)):
        match = _NUMBERED.match(key)
        if not match:
            continue
        n = match.group(1)
        try:
            address = ipaddress.IPv4Address(values[key])
        except ValueError:
            problems.append(f"{key}={values[key]!r} is not an IPv4 address")
            continue
        prefix = _prefix(values, n, address, problems)
        if prefix is not None:
            addresses.append(BootAddress(address, prefix))
    return IfcfgConfig(
        values=values,
        device=device,
        onboot=values.get("ONBOOT", "yes").lower() in ("yes", "true", "1"),
        bootproto=values.get("BOOTPROTO", "").lower(),
        addresses=tuple(addresses),
        problems=tuple(problems),
    )


def _prefix(values: dict[str, str], n: str, address: ipaddress.IPv4Address, problems: list[str]) -> int | None:
    if f"PREFIX{n}" in values:
        text = values[f"PREFIX{n}"]
        if text.isdigit() and 0 <= int(text) <= 32:
            return int(text)
        problems.append(f"PREFIX{n}={text!r} is not a prefix length")
        return None
    if f"NETMASK{n}" in values:
        text = values[f"NETMASK{n}"]
        try:
            return ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen
        except ValueError:
            problems.append(f"NETMASK{n}={text!r} is not a netmask")
            return None
    return _natural_prefix(address)
