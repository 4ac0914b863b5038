"""NetworkManager's keyfiles (`/etc/NetworkManager/system-connections/NAME.nmconnection`, RHEL 9's
default): which static addresses a connection brings up at boot, as NetworkManager reads them.

* ``[connection]``: ``autoconnect`` true by default (false, no, 0 or off: not at boot);
  ``interface-name`` binds it to an interface (unset: any device, by other properties).
* ``[ipv4]`` / ``[ipv6]``: ``method=manual`` configures ``address1``, ``address2``, ... (and the old
  ``addresses``), each ``ADDRESS/PREFIX[,GATEWAY]``; ``auto`` (DHCP) or ``disabled`` brings none.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError

_ADDRESS_KEY = re.compile(r"^address(es|\d+)$")
_FALSE = ("false", "no", "0", "off")


@dataclass(frozen=True)
class Keyfile:
    connection_id: str
    interface: str | None
    autoconnect: bool
    methods: dict[int, str]  # IP version -> method
    addresses: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]

    def boot_addresses(self, interface: str) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        """The static addresses it brings up on `interface` at boot."""
        if not self.autoconnect or self.interface not in (None, interface):
            return []
        return [a for a in self.addresses if self.methods.get(a.version) == "manual"]

    def describe(self) -> str:
        methods = ", ".join(f"ipv{v}.method={m}" for v, m in sorted(self.methods.items()))
        return (f"connection {self.connection_id!r} on {self.interface or 'any interface'}, autoconnect="
                f"{'yes' if self.autoconnect else 'no'}, {methods or 'no ipv4/ipv6 section'}, addresses "
                + (", ".join(map(str, self.addresses)) or "none"))


def parse_keyfile(text: str, path: str) -> Keyfile:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise FactError(f"{path}: not a keyfile NetworkManager reads ({str(exc).splitlines()[0]})") from None
    connection = parser["connection"] if parser.has_section("connection") else {}
    methods: dict[int, str] = {}
    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    for version in (4, 6):
        section = f"ipv{version}"
        if not parser.has_section(section):
            continue
        methods[version] = parser[section].get("method", "auto").strip()
        for key, value in parser[section].items():
            if not _ADDRESS_KEY.match(key):
                continue
            for item in value.replace(";", " ").split():
                try:
                    addresses.append(ipaddress.ip_interface(item.split(",", 1)[0]))
                except ValueError:
                    raise FactError(f"{path}: [{section}] {key}: {item!r} is not ADDRESS/PREFIX[,GATEWAY]") from None
    stem = path.rsplit("/", 1)[-1].removesuffix(".nmconnection")
    return Keyfile(
        connection_id=connection.get("id", stem).strip() or stem,
        interface=(connection.get("interface-name") or "").strip() or None,
        autoconnect=connection.get("autoconnect", "true").strip().lower() not in _FALSE,
        methods=methods,
        addresses=tuple(addresses),
    )
