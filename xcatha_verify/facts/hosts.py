"""``/etc/hosts``: parsed the way glibc's ``files`` backend reads it, normalised for drift checks.

Each line is an address, a canonical name and aliases, separated by blanks; ``#`` starts a comment
anywhere. Lines that cannot be understood are reported in ``HostsFile.problems`` instead of raising,
so one bad line does not hide the rest of the file.

Normalisation keeps what a lookup can observe and drops the rest: comments, whitespace, letter case
of names (host names are case-insensitive), line order and duplicate lines. The order of names
*within* a line is kept: the first name is the canonical one a reverse lookup returns.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

HOSTS_PATH = "/etc/hosts"
HOSTS_COMMAND = "cat /etc/hosts"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class HostsEntry:
    address: IPAddress
    names: tuple[str, ...]  # canonical name first, then aliases, as written
    line: int

    def __str__(self) -> str:
        return f"{self.address} {' '.join(self.names)}"


@dataclass(frozen=True)
class HostsFile:
    entries: tuple[HostsEntry, ...]
    problems: tuple[str, ...] = field(default=())  # "line N: what is wrong: the line"


def _parse(text: str) -> tuple[list[HostsEntry], list[tuple[str, str]]]:
    """Entries, and (problem, collapsed line text) for every line that is not one."""
    entries: list[HostsEntry] = []
    bad: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        collapsed = " ".join(fields)
        try:
            address = ipaddress.ip_address(fields[0])
        except ValueError:
            bad.append((f"line {number}: invalid address {fields[0]!r}: {collapsed}", collapsed))
            continue
        if len(fields) < 2:
            bad.append((f"line {number}: address {fields[0]} has no host name", collapsed))
            continue
        entries.append(HostsEntry(address, tuple(fields[1:]), number))
    return entries, bad


def parse_hosts(text: str) -> HostsFile:
    """Every ``address name [alias...]`` line; bad lines go to ``problems`` (they never raise)."""
    entries, bad = _parse(text)
    return HostsFile(tuple(entries), tuple(problem for problem, _ in bad))


def _entries(hosts: HostsFile | Iterable[HostsEntry]) -> Iterable[HostsEntry]:
    return hosts.entries if isinstance(hosts, HostsFile) else hosts


def normalise_hosts(text: str) -> list[str]:
    """One canonical ``address name...`` line per distinct entry, sorted; names lower-cased.

    Addresses are written canonically (``::0001`` becomes ``::1``); duplicate names within a line
    are dropped. Lines with problems are kept as ``invalid: <fields>`` (comment dropped, blanks
    collapsed) so that they count as drift too; they sort after the valid entries.
    """
    entries, bad = _parse(text)
    unique = {(entry.address, tuple(dict.fromkeys(name.lower() for name in entry.names))) for entry in entries}
    ordered = sorted(unique, key=lambda item: (item[0].version, item[0], item[1]))
    return [f"{address} {' '.join(names)}" for address, names in ordered] + sorted(
        {f"invalid: {collapsed}" for _, collapsed in bad})


def diff_hosts(a_text: str, b_text: str, a_name: str = "a", b_name: str = "b") -> list[str]:
    """Unified diff (no trailing newlines) of the normalised files; empty when equivalent."""
    return list(difflib.unified_diff(normalise_hosts(a_text), normalise_hosts(b_text),
                                     fromfile=a_name, tofile=b_name, lineterm=""))


def names_for(hosts: HostsFile | Iterable[HostsEntry], address: str | IPAddress) -> list[str]:
    """Names for ``address`` in file order (the first is what a reverse lookup returns), no duplicates."""
    wanted = ipaddress.ip_address(address)
    names: dict[str, None] = {}
    for entry in _entries(hosts):
        if entry.address == wanted:
            names.update(dict.fromkeys(entry.names))
    return list(names)


def addresses_for(hosts: HostsFile | Iterable[HostsEntry], name: str) -> list[IPAddress]:
    """Addresses whose line carries ``name`` (compared case-insensitively), in file order, no duplicates."""
    wanted = name.lower()
    found: dict[IPAddress, None] = {}
    for entry in _entries(hosts):
        if any(n.lower() == wanted for n in entry.names):
            found[entry.address] = None
    return list(found)


def ambiguous_names(hosts: HostsFile | Iterable[HostsEntry]) -> dict[str, list[IPAddress]]:
    """Names on lines of two or more addresses of one family (first spelling -> those addresses, in
    file order): a lookup returns the first, so every later line for the name is a trap."""
    seen: dict[tuple[str, int], tuple[str, dict[IPAddress, None]]] = {}
    for entry in _entries(hosts):
        for name in entry.names:
            seen.setdefault((name.lower(), entry.address.version), (name, {}))[1][entry.address] = None
    return {name: list(addresses) for name, addresses in seen.values() if len(addresses) > 1}
