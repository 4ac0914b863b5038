"""Pure text edits for ``xcatha-run prepare``: postgresql.conf, pg_hba.conf, /etc/hosts, xCAT networks.

Each ``ensure_*`` function takes a file's current text and what must be true, and returns an
:class:`Edit` holding the text before and after. Nothing is read or written here: the caller shows
``edit.diff`` (dry run) or writes ``edit.after`` (after a backup at :func:`backup_path`). The
edits follow the procedure "HA management node with shared data":

- ``listen_addresses`` gains the VIP and every management node's static IP;
- ``pg_hba.conf`` gains ``host    all          all        ADDR/32      md5`` for each of them;
- ``/etc/hosts`` maps the VIP to its host names;
- the provisioning networks' ``mgtifname`` becomes the VIP's label (``eth0:0``).

The rules: the user's lines are never reordered or dropped, comments stay, new lines are appended
(with a comment saying why) or one line is minimally modified. Applying a function to its own
``after`` gives ``changed == False``. Files are understood through the fact parsers, never re-parsed
here. When an edit cannot help (an earlier ``reject`` record, a host name mapped elsewhere) the
function raises :class:`EditRefused` naming the line, and the operator decides.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from xcatha_verify.errors import XcathaError
from xcatha_verify.facts.hosts import HOSTS_PATH, names_for, parse_hosts
from xcatha_verify.facts.pg_conf import (
    DEFAULT_LISTEN_ADDRESSES,
    effective_listen_addresses,
    listen_covers,
    parse_postgresql_conf,
)
from xcatha_verify.facts.pg_hba import HbaEntry, hba_covers, parse_pg_hba
from xcatha_verify.facts.postgres import IPAddress, IPInterface, Lister, Reader, Resolver
from xcatha_verify.facts.xcat import policy_rows_for, site_not_the_vip
from xcatha_verify.inventory import Inventory

__all__ = [
    "MARK", "Edit", "EditRefused", "backup_path", "ensure_hba_entries", "ensure_hosts_entry",
    "ensure_listen_addresses", "hba_required", "hosts_names", "listen_required", "mgtifname_commands",
]

log = logging.getLogger(__name__)

MARK = "# xcatha-verify prepare:"
LISTEN_COMMENT = f"{MARK} the VIP and every management node's static IP"
DEFAULT_HBA_METHOD = "md5"
SCRAM = "scram-sha-256"


class EditRefused(XcathaError, ValueError):
    """The file is in a state an appended or modified line cannot fix; the operator decides."""


@dataclass(frozen=True)
class Edit:
    path: str
    before: str
    after: str
    reason: str  # what changes and why, or why nothing does

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def diff(self) -> str:
        """Unified diff ``--- path (before)`` / ``+++ path (after)``; empty when unchanged."""
        if not self.changed:
            return ""
        lines = difflib.unified_diff(self.before.splitlines(), self.after.splitlines(),
                                     fromfile=f"{self.path} (before)", tofile=f"{self.path} (after)", lineterm="")
        return "".join(f"{line}\n" for line in lines)


def backup_path(path: str, stamp: str) -> str:
    """Where the file is copied before it is rewritten: ``PATH.xcatha-STAMP``."""
    return f"{path}.xcatha-{stamp}"


def _append(text: str, lines: Iterable[str]) -> str:
    """``text`` with ``lines`` added at the end (a missing final newline is supplied first)."""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "".join(f"{line}\n" for line in lines)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _no_resolve(_name: str) -> list[str]:
    return []


# ----------------------------------------------------------------------------------- postgresql.conf

# One assignment line, already validated by parse_postgresql_conf: "name [=] value [# comment]".
_LISTEN_LINE = re.compile(r"(?P<head>[ \t]*listen_addresses[ \t]*=?[ \t]*)"
                          r"(?P<value>'(?:[^'\\\n]|\\.|'')*'|[^ \t\r#']+)(?P<tail>.*)", re.IGNORECASE)
_NEEDS_DOUBLE_QUOTES = re.compile(r'[\s,"]')


def _conf_string(value: str) -> str:
    """A postgresql.conf single-quoted string that reads back as ``value``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _guc_item(item: str) -> str:
    """One element of a GUC list, double-quoted when split_guc_list needs it to be."""
    return '"' + item.replace('"', '""') + '"' if _NEEDS_DOUBLE_QUOTES.search(item) or not item else item


def ensure_listen_addresses(text: str, path: str, required: Iterable[str | IPAddress], *,
                            resolve: Resolver = _no_resolve, read: Reader | None = None,
                            list_dir: Lister | None = None) -> Edit:
    """``listen_addresses`` covering every address in ``required`` (the VIP and the static IPs).

    The effective value is the last assignment (includes followed through ``read``/``list_dir``).
    Missing addresses are appended to it, existing members kept as written and in order
    (``'localhost,10.5.106.7,10.5.106.70'`` + ``10.5.106.5`` ->
    ``'localhost,10.5.106.7,10.5.106.70,10.5.106.5'``). The winning line is rewritten in place
    when it is in this file (its comment kept); when it is in an included file that file is left
    alone and an override is appended here; when unset, a line starting with PostgreSQL's
    default ``localhost`` is appended. ``*`` (or ``0.0.0.0``/``::``) already covers: no change.
    ``postgresql.auto.conf`` (ALTER SYSTEM) overrides all of this: check it separately.
    """
    wanted = _unique(str(address) for address in required)
    settings = parse_postgresql_conf(text, path=path, read=read, list_dir=list_dir)
    current = effective_listen_addresses(settings)
    missing = [address for address in wanted if not listen_covers(current, address, resolve)]
    setting = settings.get("listen_addresses")
    shown = _conf_string(setting.value) if setting else f"unset ({DEFAULT_LISTEN_ADDRESSES})"
    if not missing:
        reason = f"noop: listen_addresses {shown} already covers {', '.join(wanted)}"
        log.info("%s", reason)
        return Edit(path, text, text, reason)
    old = setting.value if setting else DEFAULT_LISTEN_ADDRESSES
    members = [old.rstrip()] if old.strip() else []  # kept exactly as written
    value = _conf_string(",".join([*members, *map(_guc_item, missing)]))
    adding = f"add {', '.join(missing)} to listen_addresses {shown}"
    if setting is not None and setting.file == path:
        lines = text.split("\n")
        match = _LISTEN_LINE.fullmatch(lines[setting.line - 1])
        if match is None:  # the parser accepted it, so this is a bug here, not in the file
            raise EditRefused(f"{path}:{setting.line}: cannot locate the listen_addresses value to rewrite")
        lines[setting.line - 1] = f"{match['head']}{value}{match['tail']}"
        after, reason = "\n".join(lines), f"{adding} ({path}:{setting.line}, rewritten in place)"
    elif setting is not None:
        after = _append(text, [LISTEN_COMMENT, f"listen_addresses = {value}"])
        reason = f"{adding} (set in {setting.file}:{setting.line}: override appended to {path})"
    else:
        after = _append(text, [LISTEN_COMMENT, f"listen_addresses = {value}"])
        reason = f"{adding} (appended to {path})"
    log.info("%s", reason)
    return Edit(path, text, after, reason)


# ----------------------------------------------------------------------------------- pg_hba.conf


def _hba_method(entries: Sequence[HbaEntry]) -> str:
    """scram-sha-256 when most existing host records use it, otherwise md5 (as the procedure writes)."""
    hosts = [entry for entry in entries if entry.type != "local"]
    scram = sum(entry.method == SCRAM for entry in hosts)
    return SCRAM if hosts and scram * 2 > len(hosts) else DEFAULT_HBA_METHOD


def _hba_line(database: str, user: str, cidr: str, method: str) -> str:
    """The procedure's layout: ``host    all          all        10.5.106.5/32      md5``."""
    columns = (("host", 8), (database, 13), (user, 11), (cidr, 19))
    return "".join(value.ljust(max(width, len(value) + 1)) for value, width in columns) + method


def ensure_hba_entries(text: str, path: str, required: Mapping[str, str], *, database: str = "all",
                       user: str = "all", method: str | None = None, db_name: str = "xcatdb",
                       db_user: str = "xcatadm", server_addresses: Iterable[IPInterface | str] = (),
                       resolve: Resolver = _no_resolve, ssl: bool = False, read: Reader | None = None,
                       list_dir: Lister | None = None) -> Edit:
    """A ``host`` record admitting each address of ``required`` (address -> why it is needed).

    An address is already admitted when the first record PostgreSQL would pick for a TCP
    connection from it to ``db_name`` as ``db_user`` (the cfgloc user) is not ``reject``. Each
    missing one gets a comment line (``# xcatha-verify prepare: WHY``) and
    ``host    DATABASE    USER    ADDR/32    METHOD`` (``/128`` for IPv6) appended. ``method``
    defaults to md5, or scram-sha-256 when most existing host records use that. Raises
    EditRefused, naming the records, when an earlier ``reject`` record picks an address: a line
    appended after it would never be reached.
    """
    servers = tuple(server_addresses)

    def first_match(entries: list[HbaEntry], address: str) -> HbaEntry | None:
        return hba_covers(entries, address, database=db_name, user=db_user, server_addresses=servers,
                          resolve=resolve, ssl=ssl)

    entries = parse_pg_hba(text, path=path, read=read, list_dir=list_dir)
    method = method or _hba_method(entries)
    missing: dict[str, str] = {}
    rejected: list[str] = []
    for raw, why in required.items():
        try:
            address = ipaddress.ip_address(str(raw))
        except ValueError:
            raise EditRefused(f"{path}: {raw!r} ({why}) is not an IP address") from None
        first = first_match(entries, str(address))
        if first is None:
            missing.setdefault(str(address), why)
        elif first.method == "reject":
            rejected.append(f"{address} ({why}) is rejected by {first}")
        else:
            log.info("noop: %s already admitted by %s", address, first)
    if rejected:
        raise EditRefused(f"{path}: an appended record would come after a reject record that already "
                          f"matches; edit or move it first: {'; '.join(rejected)}")
    if not missing:
        return Edit(path, text, text, f"noop: {path} already admits {', '.join(required)} as {db_user}")
    lines: list[str] = []
    for missed, why in missing.items():
        bits = ipaddress.ip_address(missed).max_prefixlen
        lines += [f"{MARK} {why}", _hba_line(database, user, f"{missed}/{bits}", method)]
    after = _append(text, lines)
    entries_after = parse_pg_hba(after, path=path, read=read, list_dir=list_dir)
    unreached = [a for a in missing if (entry := first_match(entries_after, a)) is None or entry.method == "reject"]
    if unreached:
        raise EditRefused(f"{path}: a '{database} {user}' record would not admit {', '.join(unreached)} "
                          f"to {db_name} as {db_user}")
    reason = f"append host records for {', '.join(missing)} ({method}) to {path}"
    log.info("%s", reason)
    return Edit(path, text, after, reason)


# ----------------------------------------------------------------------------------- /etc/hosts

_BAD_NAME = re.compile(r"[\s#]")


def _unique_names(names: Iterable[str]) -> list[str]:
    """Names without case-insensitive repeats, first spelling kept."""
    return list({name.lower(): name for name in reversed(list(names))}.values())[::-1]


def ensure_hosts_entry(text: str, address: str | IPAddress, names: Sequence[str], *,
                       path: str = HOSTS_PATH, why: str | None = None) -> Edit:
    """``address`` mapped to every one of ``names`` (e.g. the VIP's long and short name).

    Names compare case-insensitively. When a line for the address exists, the missing names are
    added to the first such line (its comment kept); otherwise ``ADDRESS<TAB>NAME...`` is
    appended, after ``# xcatha-verify prepare: WHY`` when ``why`` is given. A name already mapped
    to a different address of the same family makes the file ambiguous: EditRefused names both
    lines (dual-stack IPv4 + IPv6 for one name is not a conflict).
    """
    ip = ipaddress.ip_address(str(address))
    wanted = _unique_names(names)
    if not wanted or any(not name or _BAD_NAME.search(name) for name in wanted):
        raise EditRefused(f"{path}: expected host names without blanks or '#' for {ip}, got {list(names)!r}")
    hosts = parse_hosts(text)
    mine = [entry for entry in hosts.entries if entry.address == ip]
    lowered = {name.lower() for name in wanted}
    conflicts = [entry for entry in hosts.entries
                 if entry.address != ip and entry.address.version == ip.version
                 and lowered & {name.lower() for name in entry.names}]
    if conflicts:
        here = f"line {mine[0].line}: {mine[0]}" if mine else f"wanted: {ip} {' '.join(wanted)}"
        found = "; ".join(f"line {entry.line}: {entry} maps "
                          f"{' '.join(n for n in entry.names if n.lower() in lowered)} to another address"
                          for entry in conflicts)
        raise EditRefused(f"{path} is ambiguous: {found} ({here}); fix it by hand")
    present = {name.lower() for name in names_for(hosts, ip)}
    missing = [name for name in wanted if name.lower() not in present]
    if not missing:
        reason = f"noop: {path} already maps {ip} to {' '.join(wanted)}"
        log.info("%s", reason)
        return Edit(path, text, text, reason)
    if mine:
        lines = text.splitlines(keepends=True)  # the numbering parse_hosts uses
        index = mine[0].line - 1
        body = lines[index].splitlines()[0]
        content, hash_, comment = body.partition("#")
        kept = content.rstrip()
        lines[index] = (f"{kept} {' '.join(missing)}{content[len(kept):]}{hash_}{comment}"
                        f"{lines[index][len(body):]}")
        after, reason = "".join(lines), f"add {' '.join(missing)} to {ip} (line {mine[0].line}) in {path}"
    else:
        after = _append(text, [*([f"{MARK} {why}"] if why else []), f"{ip}\t{' '.join(wanted)}"])
        reason = f"append {ip} {' '.join(wanted)} to {path}"
    log.info("%s", reason)
    return Edit(path, text, after, reason)


# ----------------------------------------------------------------------------------- xCAT networks


def _network(attrs: Mapping[str, str]) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network of an xCAT network object (``net`` + ``mask``, mask dotted or ``/prefix``)."""
    net, mask = attrs.get("net", "").strip(), attrs.get("mask", "").strip().lstrip("/")
    try:
        return ipaddress.ip_network(net if "/" in net or not mask else f"{net}/{mask}", strict=False)
    except ValueError:
        return None


def mgtifname_commands(networks: Mapping[str, Mapping[str, str]], names: Sequence[str], label: str, *,
                       vip: str | None = None) -> list[list[str]]:
    """``chdef`` argv lists still needed so the networks' ``mgtifname`` is ``label`` (the VIP's label).

    ``networks`` is parse_lsdef of ``lsdef -t network -l``. The networks are ``names`` (each must be
    defined) or, when ``names`` is empty, those whose net/mask contain ``vip``. Returns [] when
    every one already matches. Raises EditRefused when a named network is not defined or no
    network contains the VIP.
    """
    if names:
        undefined = [name for name in names if name not in networks]
        if undefined:
            raise EditRefused(f"xCAT network(s) {', '.join(undefined)} not defined (lsdef -t network); "
                              f"defined: {', '.join(networks) or 'none'}")
        chosen = _unique(names)
    else:
        if vip is None:
            raise EditRefused("mgtifname_commands: give the network names or the VIP to find them by")
        ip = ipaddress.ip_address(vip)
        chosen = [name for name, attrs in networks.items() if (net := _network(attrs)) is not None and ip in net]
        if not chosen:
            raise EditRefused(f"no xCAT network contains the VIP {ip}; define one (mkdef -t network) first")
    commands: list[list[str]] = []
    for name in chosen:
        if networks[name].get("mgtifname", "") == label:
            log.info("noop: xCAT network %s already has mgtifname=%s", name, label)
        else:
            commands.append(["chdef", "-t", "network", "-o", name, f"mgtifname={label}"])
    return commands


def site_master_commands(site: Mapping[str, str], vip: str, vip_names: Sequence[str]) -> list[list[str]]:
    """The ``chdef`` still needed so the site table's ``master`` (and ``nameservers``, when set) is the VIP.

    ``site`` is the site table (key -> value). A value already naming the VIP (its address or one of
    ``vip_names``) is left alone; ``nameservers`` unset stays unset. Returns [] when nothing is needed.
    """
    wrong = site_not_the_vip(dict(site), vip, tuple(vip_names))
    return [["chdef", "-t", "site", "-o", "clustersite", *(f"{key}={vip}" for key in wrong)]] if wrong else []


def policy_commands(rows: Sequence[Mapping[str, str]], name: str) -> list[list[str]]:
    """The ``chtab`` still needed so the policy table trusts ``name`` (the server certificate's CN).

    Nothing when a row names it with ``rule=trusted``; a row naming it with another rule is refused
    (the site decided that; the operator changes it). A new row takes xcatconfig's priority for the
    management node, 1.2, or the first of 1.21, 1.22, ... that is free.
    """
    mine, trusted = policy_rows_for([dict(r) for r in rows], name)
    if trusted:
        return []
    if mine:
        raise EditRefused(f"the policy table names {name} with rule={mine[0].get('rule', '')} (priority "
                          f"{mine[0].get('priority', '?')}); change it to trusted by hand if that is meant")
    taken = {r.get("priority", "") for r in rows}
    priority = next(p for p in ["1.2", *(f"1.2{i}" for i in range(1, 100))] if p not in taken)
    return [["chtab", f"priority={priority}", f"policy.name={name}", "policy.rule=trusted"]]


# ----------------------------------------------------------------------------------- from the inventory


def listen_required(inventory: Inventory) -> list[str]:
    """What ``listen_addresses`` must cover: the VIP and every node's static IP."""
    return _unique([str(inventory.vip.address), *(str(node.static_ip) for node in inventory.nodes)])


def hba_required(inventory: Inventory) -> dict[str, str]:
    """What pg_hba.conf must admit, address -> why: the VIP, every node's static IP, database.clients."""
    return {**inventory.database_clients(), str(inventory.vip.address): f"the VIP {inventory.vip.hostname}"}


def hosts_names(inventory: Inventory) -> list[str]:
    """The VIP's names for /etc/hosts: the long host name, then the short one."""
    return _unique([inventory.vip.hostname, inventory.vip.short_name])
