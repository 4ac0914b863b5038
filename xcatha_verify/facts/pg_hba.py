"""PostgreSQL's ``pg_hba.conf``, read by the server's own rules, and the record a client meets.

``pg_hba.conf`` follows ``hba.c`` of PostgreSQL 16: blank-separated fields, comma lists,
double-quoted tokens (which are never keywords), trailing-backslash continuation lines,
``include*`` lines and ``@file`` lists. :func:`hba_covers` picks the first record that matches a
TCP client the way the server does.

Files are reached only through the ``read``/``list_dir`` callables handed in, so every function
here is pure and can be tested with a dict of file texts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.postgres import (
    INCLUDE_DIRECTIVES,
    Includes,
    IPAddress,
    IPInterface,
    Lister,
    Reader,
    Resolver,
    ReverseResolver,
    no_resolve,
    parse_ip,
    resolved,
)


class HbaToken(str):
    """A pg_hba token: a plain string that remembers whether it was written in double quotes.

    Quoted tokens are never keywords (``"all"`` is a database named all).
    """

    quoted: bool

    def __new__(cls, value: str, quoted: bool = False) -> HbaToken:
        token = super().__new__(cls, value)
        token.quoted = quoted
        return token

    @property
    def keyword(self) -> str | None:
        return None if self.quoted else str(self)


HBA_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
HBA_METHODS = ("trust", "reject", "md5", "password", "scram-sha-256", "gss", "sspi", "ident", "peer", "pam",
               "ldap", "radius", "cert", "bsd")


@dataclass(frozen=True)
class HbaEntry:
    type: str
    databases: tuple[str, ...]  # HbaToken values: compare as strings, ``.quoted`` tells "all" from all
    users: tuple[str, ...]
    address: str | None  # as written: CIDR, IP (then ``mask`` is set), all, samehost, samenet, host name
    mask: str | None
    method: str
    options: tuple[str, ...] = field(default=(), repr=False)  # "name=value" as written (may hold secrets)
    line: int = 0
    file: str = "pg_hba.conf"

    def __str__(self) -> str:
        where = " ".join(x for x in (self.address, self.mask) if x)
        return (f"{self.file}:{self.line}: {self.type} {','.join(self.databases)} {','.join(self.users)}"
                f"{' ' + where if where else ''} {self.method}")


_HBA_BLANK = " \t\r"


def _hba_token(line: str, pos: int) -> tuple[HbaToken | None, bool, int]:
    """hba.c next_token: (token or None, ended at an unquoted comma, next position)."""
    n = len(line)
    while pos < n and (line[pos] in _HBA_BLANK or line[pos] == ","):
        pos += 1
    buf: list[str] = []
    in_quote = was_quote = saw_quote = initial_quote = comma = False
    while pos < n and (line[pos] not in _HBA_BLANK or in_quote):
        c = line[pos]
        if c == "#" and not in_quote:
            pos = n
            break
        if c == "," and not in_quote:
            comma = True
            break
        if c != '"' or was_quote:
            buf.append(c)
        was_quote = (not was_quote) if (in_quote and c == '"') else False
        if c == '"':
            in_quote = not in_quote
            saw_quote = True
            if not buf:
                initial_quote = True
        pos += 1
    if saw_quote or buf:
        return HbaToken("".join(buf), initial_quote), comma, pos
    return None, comma, pos


class _HbaReader:
    def __init__(self, read: Reader | None, list_dir: Lister | None) -> None:
        self.includes = Includes(read, list_dir, "authentication")
        self.read = read

    def lines(self, text: str, chain: list[str]) -> list[tuple[str, int, list[list[HbaToken]]]]:
        """(file, line number, fields) of every non-empty logical line, includes expanded in place."""
        current = chain[-1]
        physical = text.split("\n")
        found: list[tuple[str, int, list[list[HbaToken]]]] = []
        index = 0
        while index < len(physical):
            number = index + 1
            line = physical[index].rstrip("\r\n")
            index += 1
            while line.endswith("\\"):  # the backslash must be the very last character
                line = line[:-1]
                if index < len(physical):
                    line += physical[index].rstrip("\r\n")
                    index += 1
            fields = self.fields(line, f"{current}:{number}", chain)
            if not fields:
                continue
            if len(fields) == 2 and fields[0][0] in INCLUDE_DIRECTIVES:
                where = f"{current}:{number}"
                directive, location = str(fields[0][0]), str(fields[1][0])
                if directive == "include_dir":
                    for sub_path, sub_text in self.includes.directory(location, where, chain):
                        found += self.lines(sub_text, [*chain, sub_path])
                else:
                    sub = self.includes.file(directive, location, where, chain)
                    if sub is not None:
                        found += self.lines(sub[1], [*chain, sub[0]])
                continue
            found.append((current, number, fields))
        return found

    def fields(self, line: str, where: str, chain: list[str]) -> list[list[HbaToken]]:
        fields: list[list[HbaToken]] = []
        pos = 0
        while pos < len(line):
            field_tokens: list[HbaToken] = []
            while True:
                token, comma, pos = _hba_token(line, pos)
                if token is None:
                    break
                if not token.quoted and token.startswith("@") and len(token) > 1 and self.read is not None:
                    field_tokens += self.secondary(token[1:], where, chain)
                else:
                    field_tokens.append(token)
                if not comma:
                    break
            if field_tokens:
                fields.append(field_tokens)
        return fields

    def secondary(self, location: str, where: str, chain: list[str]) -> list[HbaToken]:
        """The tokens of an ``@file`` list (all its lines, all fields); a missing file is an empty list."""
        found = self.includes.file("include_if_exists", location, where, chain)
        if found is None:
            return []
        path, text = found
        tokens: list[HbaToken] = []
        for number, line in enumerate(text.split("\n"), 1):
            for field_tokens in self.fields(line.rstrip("\r\n"), f"{path}:{number}", [*chain, path]):
                tokens += field_tokens
        return tokens


def _single(fields: list[list[HbaToken]], index: int, where: str, what: str, missing: str) -> HbaToken:
    if index >= len(fields):
        raise FactError(f"{where}: end-of-line before {missing}")
    if len(fields[index]) > 1:
        raise FactError(f"{where}: multiple values specified for {what}")
    return fields[index][0]


def _check_names(tokens: list[HbaToken], where: str) -> tuple[str, ...]:
    for token in tokens:
        if token.keyword is not None and token.startswith("/"):
            try:
                re.compile(token[1:])
            except re.error as exc:
                raise FactError(f"{where}: invalid regular expression {token[1:]!r}: {exc}") from None
    return tuple(tokens)


def _hba_entry(file: str, number: int, fields: list[list[HbaToken]]) -> HbaEntry:
    where = f"{file}:{number}"
    conn = _single(fields, 0, where, "connection type", "connection type")
    if conn not in HBA_TYPES:
        raise FactError(f"{where}: invalid connection type {str(conn)!r}")
    if len(fields) < 2:
        raise FactError(f"{where}: end-of-line before database specification")
    databases = _check_names(fields[1], where)
    if len(fields) < 3:
        raise FactError(f"{where}: end-of-line before role specification")
    users = _check_names(fields[2], where)
    index = 3
    address: str | None = None
    mask: str | None = None
    if conn != "local":
        token = _single(fields, index, where, "host address", "IP address specification")
        index += 1
        address = token
        if token.keyword not in ("all", "samehost", "samenet"):
            base, slash, bits = address.partition("/")
            ip = parse_ip(base)
            if ip is None and slash:
                raise FactError(f"{where}: specifying both host name and CIDR mask is invalid: {address!r}")
            if ip is not None and slash:
                if not (bits.isascii() and bits.isdigit()) or int(bits) > ip.max_prefixlen:
                    raise FactError(f"{where}: invalid CIDR mask in address {address!r}")
            elif ip is not None:
                mask_token = _single(fields, index, where, "netmask",
                                     "netmask specification (give the address in CIDR notation or add a netmask)")
                index += 1
                mask_ip = parse_ip(str(mask_token))
                if mask_ip is None:
                    raise FactError(f"{where}: invalid IP mask {str(mask_token)!r}")
                if mask_ip.version != ip.version:
                    raise FactError(f"{where}: IP address and mask do not match")
                mask = str(mask_token)
    method = str(_single(fields, index, where, "authentication type", "authentication method"))
    if method not in HBA_METHODS:
        if method == "krb5":
            raise FactError(f"{where}: krb5 authentication is not supported")
        raise FactError(f"{where}: invalid authentication method {method!r}")
    if method == "peer" and conn != "local":
        raise FactError(f"{where}: peer authentication is only supported on local sockets")
    if method == "cert" and conn != "hostssl":
        raise FactError(f"{where}: cert authentication is only supported on hostssl connections")
    if conn == "hostgssenc" and method not in ("gss", "trust", "reject"):
        raise FactError(f"{where}: GSSAPI encryption only supports gss, trust, or reject authentication")
    options = tuple(str(token) for tokens in fields[index + 1:] for token in tokens)
    for position, option in enumerate(options, 1):
        name, eq, _ = option.partition("=")
        if not eq or not name:
            raise FactError(f"{where}: authentication option {position} not in name=value format")
    return HbaEntry(str(conn), databases, users, address, mask, method, options, number, file)


def parse_pg_hba(text: str, *, path: str = "pg_hba.conf", read: Reader | None = None,
                 list_dir: Lister | None = None) -> list[HbaEntry]:
    """Every record of pg_hba.conf in order, includes expanded where they stand.

    ``@file`` list tokens are expanded when ``read`` is given (a missing one is an empty list, as
    in PostgreSQL) and kept as literal tokens otherwise. Raises FactError naming ``file:line`` on a
    malformed record, a missing ``include``/``include_dir`` target or nesting deeper than 10.
    """
    reader = _HbaReader(read, list_dir)
    return [_hba_entry(file, number, fields) for file, number, fields in reader.lines(text, [path])]


def _name_matches(token: str, name: str) -> bool:
    if isinstance(token, HbaToken) and token.keyword is not None and token.startswith("/"):
        return re.search(token[1:], name) is not None
    return token == name


def _keyword(token: str) -> str | None:
    return token.keyword if isinstance(token, HbaToken) else token


def _database_matches(tokens: Iterable[str], database: str, user: str) -> bool:
    for token in tokens:
        keyword = _keyword(token)
        if keyword == "all":
            return True
        if keyword == "sameuser":
            if database == user:
                return True
        elif keyword in ("samerole", "samegroup"):
            return True  # role membership cannot be seen from the files: assume it
        elif keyword == "replication":
            continue  # only physical replication connections match it
        elif _name_matches(token, database):
            return True
    return False


def _user_matches(tokens: Iterable[str], user: str) -> bool:
    for token in tokens:
        keyword = _keyword(token)
        if keyword is not None and keyword.startswith("+"):
            return True  # role membership cannot be seen from the files: assume it
        if keyword == "all" or _name_matches(token, user):
            return True
    return False


def _type_matches(conn: str, ssl: bool, gssenc: bool) -> bool:
    return {"host": True, "hostssl": ssl, "hostnossl": not ssl, "hostgssenc": gssenc,
            "hostnogssenc": not gssenc}.get(conn, False)


def _address_matches(entry: HbaEntry, client: IPAddress, servers: list[IPInterface], resolve: Resolver,
                     reverse: ReverseResolver | None) -> bool:
    address = entry.address or ""
    keyword = _keyword(address)
    if keyword == "all":
        return True
    if keyword == "samehost":
        return any(server.ip == client for server in servers)
    if keyword == "samenet":
        return any(server.version == client.version and client in server.network for server in servers)
    base, slash, bits = address.partition("/")
    ip = parse_ip(base)
    if ip is None:  # a host name: reverse-resolve the client, compare, then confirm forward
        if reverse is None:
            return not address.startswith(".") and client in resolved(address, resolve)
        name = reverse(str(client))
        if not name:
            return False
        actual, pattern = name.lower(), address.lower()
        matched = actual.endswith(pattern) if pattern.startswith(".") else actual == pattern
        return matched and client in resolved(name, resolve)
    if ip.version != client.version:
        return False
    if slash:
        return client in ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    mask = int(ipaddress.ip_address(entry.mask or ""))
    return int(client) & mask == int(ip) & mask


def hba_covers(entries: Iterable[HbaEntry], client: str, *, database: str = "xcatdb", user: str = "xcatadm",
               server_addresses: Iterable[IPInterface | str] = (), resolve: Resolver = no_resolve,
               reverse: ReverseResolver | None = None, ssl: bool = False,
               gssenc: bool = False) -> HbaEntry | None:
    """The first record PostgreSQL would pick for a TCP connection from ``client``, or None.

    The result may be a ``reject`` record: use :func:`hba_allows` for a yes/no answer.
    ``server_addresses`` (``ip_interface`` values or ``"addr/prefix"`` strings) serve samehost and
    samenet. Host-name records: with ``reverse`` (client address -> its name, e.g. the first name
    /etc/hosts gives it) they match as PostgreSQL does -- the reverse name equals the record (or
    ends with a ``.suffix`` record) and ``resolve(name)`` contains the client; without ``reverse``
    a plain host name matches when ``resolve(record)`` contains the client and ``.suffix`` records
    never match. ``ssl``/``gssenc`` describe the connection (hostssl, hostnossl, ...).
    ``samerole``/``samegroup`` and ``+role`` are assumed to match.
    """
    ip = parse_ip(client)
    if ip is None:
        raise FactError(f"hba_covers: client {client!r} is not an IP address")
    servers = [s if isinstance(s, ipaddress.IPv4Interface | ipaddress.IPv6Interface) else ipaddress.ip_interface(s)
               for s in server_addresses]
    for entry in entries:
        if (_type_matches(entry.type, ssl, gssenc)
                and _address_matches(entry, ip, servers, resolve, reverse)
                and _database_matches(entry.databases, database, user)
                and _user_matches(entry.users, user)):
            return entry
    return None


def hba_allows(entries: Iterable[HbaEntry], client: str, *, database: str = "xcatdb", user: str = "xcatadm",
               server_addresses: Iterable[IPInterface | str] = (), resolve: Resolver = no_resolve,
               reverse: ReverseResolver | None = None, ssl: bool = False, gssenc: bool = False) -> bool:
    """True when the first matching record exists and its method is not ``reject``."""
    entry = hba_covers(entries, client, database=database, user=user, server_addresses=server_addresses,
                       resolve=resolve, reverse=reverse, ssl=ssl, gssenc=gssenc)
    return entry is not None and entry.method != "reject"
