"""PostgreSQL's ``postgresql.conf`` and ``pg_hba.conf``, read by the server's own rules.

``postgresql.conf`` follows ``guc-file.l``: ``name [=] value`` per line, names case-insensitive,
values a single-quoted string (``''`` and backslash escapes), a number with optional unit, or a
bare word; ``#`` comments; the last assignment wins; ``include``, ``include_if_exists`` and
``include_dir`` resolve relative paths against the including file's directory and nest at most
10 deep.

``pg_hba.conf`` follows ``hba.c`` of PostgreSQL 16: blank-separated fields, comma lists,
double-quoted tokens (which are never keywords), trailing-backslash continuation lines,
``include*`` lines and ``@file`` lists. :func:`hba_covers` picks the first record that matches a
TCP client the way the server does.

Files are reached only through the ``read``/``list_dir`` callables handed in, so every function
here is pure and can be tested with a dict of file texts. ``ALTER SYSTEM`` settings live in
``postgresql.auto.conf``, which the server reads after ``postgresql.conf``: parse it too and let it
win (``{**parse_postgresql_conf(conf), **parse_postgresql_conf(auto)}``).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from xcatha_verify.facts.network import FactError
from xcatha_verify.inventory import Inventory

# pg_isready's exit statuses other than 0, in its own words.
PG_ISREADY = {1: "rejecting connections", 2: "no response", 3: "no attempt made"}

POSTGRESQL_CONF = "/var/lib/pgsql/data/postgresql.conf"
POSTGRESQL_AUTO_CONF = "/var/lib/pgsql/data/postgresql.auto.conf"
PG_HBA_CONF = "/var/lib/pgsql/data/pg_hba.conf"
MAX_INCLUDE_DEPTH = 10  # PostgreSQL's CONF_FILE_MAX_DEPTH
DEFAULT_LISTEN_ADDRESSES = "localhost"

Reader = Callable[[str], str | None]  # path -> text, or None when the file does not exist
Lister = Callable[[str], list[str] | None]  # directory -> entry names, or None when it does not exist
Resolver = Callable[[str], list[str]]  # host name -> addresses (as strings)
ReverseResolver = Callable[[str], str | None]  # address -> host name
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _no_resolve(_name: str) -> list[str]:
    return []


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _Includes:
    """Shared include machinery: path resolution, depth limit, reading through the callables."""

    def __init__(self, read: Reader | None, list_dir: Lister | None, what: str) -> None:
        self.read = read
        self.list_dir = list_dir
        self.what = what

    @staticmethod
    def absolute(location: str, calling_file: str) -> str:
        if posixpath.isabs(location):
            return posixpath.normpath(location)
        return posixpath.normpath(posixpath.join(posixpath.dirname(calling_file), location))

    def _reader(self, where: str, target: str, chain: Sequence[str]) -> Reader:
        """The file reader, once ``target`` may be included from the end of ``chain``."""
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise FactError(f"{where}: cannot include {target}: maximum nesting depth ({MAX_INCLUDE_DEPTH}) "
                            f"exceeded (include loop?): {' -> '.join([*chain, target])}")
        if self.read is None:
            raise FactError(f"{where}: cannot include {target}: no file reader given")
        return self.read

    def file(self, directive: str, location: str, where: str, chain: Sequence[str]) -> tuple[str, str] | None:
        """(path, text) of an ``include``/``include_if_exists`` target; None when skipped."""
        if not location.strip():
            raise FactError(f"{where}: empty {self.what} file name in {directive}")
        target = self.absolute(location, chain[-1])
        text = self._reader(where, target, chain)(target)
        if text is None:
            if directive == "include_if_exists":
                return None
            raise FactError(f"{where}: could not open {self.what} file {target!r} ({directive}): no such file")
        return target, text

    def directory(self, location: str, where: str, chain: Sequence[str]) -> list[tuple[str, str]]:
        """(path, text) of each ``*.conf`` file of an ``include_dir``, in C-locale order, dotfiles skipped."""
        if not location.strip():
            raise FactError(f"{where}: empty {self.what} directory name in include_dir")
        target = self.absolute(location, chain[-1])
        read = self._reader(where, target, chain)
        if self.list_dir is None:
            raise FactError(f"{where}: cannot include directory {target}: no directory lister given")
        names = self.list_dir(target)
        if names is None:
            raise FactError(f"{where}: could not open {self.what} directory {target!r} (include_dir): "
                            "no such directory")
        paths = sorted(posixpath.join(target, name) for name in names
                       if not name.startswith(".") and name.endswith(".conf") and len(name) > len(".conf"))
        found = []
        for path in paths:
            text = read(path)
            if text is None:
                raise FactError(f"{where}: could not open {self.what} file {path!r} (include_dir): no such file")
            found.append((path, text))
        return found


# ----------------------------------------------------------------------------------- postgresql.conf


@dataclass(frozen=True)
class Setting:
    name: str  # lower-cased
    value: str  # quotes removed, escapes resolved
    file: str  # where the winning assignment is
    line: int


_LETTER = r"[A-Za-z_\x80-\U0010ffff]"
_LETTER_OR_DIGIT = r"[A-Za-z_0-9\x80-\U0010ffff]"
_ID = f"{_LETTER}{_LETTER_OR_DIGIT}*"
# guc-file.l's rules, in its order: flex takes the longest match, the earliest rule on a tie.
_CONF_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id", re.compile(_ID)),
    ("qualified_id", re.compile(rf"{_ID}\.{_ID}")),
    ("string", re.compile(r"'(?:[^'\\\n]|\\.|'')*'")),
    ("unquoted", re.compile(rf"{_LETTER}(?:{_LETTER_OR_DIGIT}|[-._:/])*")),
    ("integer", re.compile(r"[-+]?(?:0x[0-9a-fA-F]+|[0-9]+)[a-zA-Z]*")),
    ("real", re.compile(r"[-+]?[0-9]*\.[0-9]*(?:[Ee][-+]?[0-9]+)?")),
    ("equals", re.compile(r"=")),
)
_CONF_BLANK = re.compile(r"[ \t\r]+")
_NAME_KINDS = ("id", "qualified_id")
_VALUE_KINDS = ("id", "string", "integer", "real", "unquoted")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CONF_INCLUDES = ("include", "include_if_exists", "include_dir")


def _conf_tokens(line: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(line):
        blank = _CONF_BLANK.match(line, pos)
        if blank:
            pos = blank.end()
            continue
        if line[pos] == "#":
            break
        best = ("error", line[pos])  # flex's "." rule: any other character is an error token
        longest = 0
        for kind, rule in _CONF_RULES:
            match = rule.match(line, pos)
            if match and len(match.group()) > longest:
                best, longest = (kind, match.group()), len(match.group())
        tokens.append(best)
        pos += len(best[1])
    return tokens


def _syntax_error(where: str, tokens: list[tuple[str, str]], at: int) -> FactError:
    near = f"near token {tokens[at][1]!r}" if at < len(tokens) else "near end of line"
    return FactError(f"{where}: syntax error {near}")


def _unquote_conf(token: str) -> str:
    """DeescapeQuotedString: strip the quotes; ``''`` is one quote; ``\\b \\f \\n \\r \\t``, octal, ``\\x`` is x."""
    body = token[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            i += 1
            c = body[i]
            if c in "01234567":
                end = i + 1
                while end < len(body) and end - i < 3 and body[end] in "01234567":
                    end += 1
                out.append(chr(int(body[i:end], 8) & 0xFF))  # one byte, as PostgreSQL stores it
                i = end
                continue
            out.append(_ESCAPES.get(c, c))
        elif c == "'" and body[i + 1:i + 2] == "'":
            out.append("'")
            i += 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def parse_postgresql_conf(text: str, *, path: str = "postgresql.conf", read: Reader | None = None,
                          list_dir: Lister | None = None) -> dict[str, Setting]:
    """Settings by lower-cased name; the last assignment (across includes) wins.

    ``read(path)`` returns a file's text or None when it does not exist; ``list_dir(path)`` returns
    a directory's entry names or None. Both are needed only when the file includes others.
    Raises FactError (naming ``file:line``) on a syntax error, a missing ``include`` or
    ``include_dir`` target, or nesting deeper than 10 (an include loop).
    """
    settings: dict[str, Setting] = {}
    includes = _Includes(read, list_dir, "configuration")

    def parse(text: str, chain: list[str]) -> None:
        current = chain[-1]
        for number, line in enumerate(text.split("\n"), 1):
            tokens = _conf_tokens(line)
            if not tokens:
                continue
            where = f"{current}:{number}"
            if tokens[0][0] not in _NAME_KINDS:
                raise _syntax_error(where, tokens, 0)
            at = 2 if len(tokens) > 1 and tokens[1][0] == "equals" else 1
            if at >= len(tokens) or tokens[at][0] not in _VALUE_KINDS:
                raise _syntax_error(where, tokens, at)
            if at + 1 < len(tokens):
                raise _syntax_error(where, tokens, at + 1)
            name = tokens[0][1].lower()
            kind, raw = tokens[at]
            value = _unquote_conf(raw) if kind == "string" else raw
            if name in ("include", "include_if_exists"):
                found = includes.file(name, value, where, chain)
                if found is not None:
                    parse(found[1], [*chain, found[0]])
            elif name == "include_dir":
                for sub_path, sub_text in includes.directory(value, where, chain):
                    parse(sub_text, [*chain, sub_path])
            else:
                settings.pop(name, None)
                settings[name] = Setting(name, value, current, number)

    parse(text, [path])
    return settings


def split_guc_list(value: str, *, name: str = "listen_addresses") -> list[str]:
    """PostgreSQL's SplitGUCList: comma-separated, blanks trimmed, ``"double quoted"`` elements allowed.

    Raises FactError on empty elements or stray text (the server refuses to start on those).
    """
    items: list[str] = []
    pos = 0
    n = len(value)

    def skip_blanks(pos: int) -> int:
        while pos < n and value[pos].isspace():
            pos += 1
        return pos

    pos = skip_blanks(pos)
    if pos == n:
        return items
    while True:
        if value[pos] == '"':
            end = pos + 1
            item = []
            while True:
                close = value.find('"', end)
                if close < 0:
                    raise FactError(f"invalid list syntax in {name}: unterminated quote in {value!r}")
                item.append(value[end:close])
                if value[close + 1:close + 2] == '"':
                    item.append('"')
                    end = close + 2
                    continue
                break
            items.append("".join(item))
            pos = close + 1
        else:
            start = pos
            while pos < n and value[pos] != "," and not value[pos].isspace():
                pos += 1
            if pos == start:
                raise FactError(f"invalid list syntax in {name}: empty element in {value!r}")
            items.append(value[start:pos])
        pos = skip_blanks(pos)
        if pos == n:
            return items
        if value[pos] != ",":
            raise FactError(f"invalid list syntax in {name}: {value!r}")
        pos = skip_blanks(pos + 1)
        if pos == n:
            raise FactError(f"invalid list syntax in {name}: empty element in {value!r}")


def effective_listen_addresses(settings: dict[str, Setting]) -> list[str]:
    """``listen_addresses`` as the server uses it: ``['localhost']`` when unset, ``[]`` for ``''``."""
    setting = settings.get("listen_addresses")
    return split_guc_list(setting.value if setting else DEFAULT_LISTEN_ADDRESSES)


def _resolved(name: str, resolve: Resolver) -> list[IPAddress]:
    return [ip for ip in (_ip(text) for text in resolve(name)) if ip is not None]


def listen_covers(listen: Iterable[str], address: str, resolve: Resolver = _no_resolve) -> bool:
    """Whether the server listens on ``address`` (an IP literal, or a name: then all it resolves to).

    ``*`` covers everything, ``0.0.0.0`` every IPv4 and ``::`` every IPv6 address (PostgreSQL sets
    IPV6_V6ONLY). Other entries are IP literals compared as addresses, or host names (``localhost``
    included) that are resolved through ``resolve``.
    """
    entries = [entry for entry in listen if entry]
    literal = _ip(address)
    targets = [literal] if literal is not None else _resolved(address, resolve)
    if not targets:
        return False

    def covers(entry: str, target: IPAddress) -> bool:
        if entry == "*":
            return True
        ip = _ip(entry)
        if ip is None:
            return target in _resolved(entry, resolve)
        if ip.is_unspecified:
            return ip.version == target.version
        return ip == target

    return all(any(covers(entry, target) for entry in entries) for target in targets)


# ----------------------------------------------------------------------------------- pg_hba.conf


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
        self.includes = _Includes(read, list_dir, "authentication")
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
            if len(fields) == 2 and fields[0][0] in _CONF_INCLUDES:
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
            ip = _ip(base)
            if ip is None and slash:
                raise FactError(f"{where}: specifying both host name and CIDR mask is invalid: {address!r}")
            if ip is not None and slash:
                if not (bits.isascii() and bits.isdigit()) or int(bits) > ip.max_prefixlen:
                    raise FactError(f"{where}: invalid CIDR mask in address {address!r}")
            elif ip is not None:
                mask_token = _single(fields, index, where, "netmask",
                                     "netmask specification (give the address in CIDR notation or add a netmask)")
                index += 1
                mask_ip = _ip(str(mask_token))
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
    ip = _ip(base)
    if ip is None:  # a host name: reverse-resolve the client, compare, then confirm forward
        if reverse is None:
            return not address.startswith(".") and client in _resolved(address, resolve)
        name = reverse(str(client))
        if not name:
            return False
        actual, pattern = name.lower(), address.lower()
        matched = actual.endswith(pattern) if pattern.startswith(".") else actual == pattern
        return matched and client in _resolved(name, resolve)
    if ip.version != client.version:
        return False
    if slash:
        return client in ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    mask = int(ipaddress.ip_address(entry.mask or ""))
    return int(client) & mask == int(ip) & mask


def hba_covers(entries: Iterable[HbaEntry], client: str, *, database: str = "xcatdb", user: str = "xcatadm",
               server_addresses: Iterable[IPInterface | str] = (), resolve: Resolver = _no_resolve,
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
    ip = _ip(client)
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
               server_addresses: Iterable[IPInterface | str] = (), resolve: Resolver = _no_resolve,
               reverse: ReverseResolver | None = None, ssl: bool = False, gssenc: bool = False) -> bool:
    """True when the first matching record exists and its method is not ``reject``."""
    entry = hba_covers(entries, client, database=database, user=user, server_addresses=server_addresses,
                       resolve=resolve, reverse=reverse, ssl=ssl, gssenc=gssenc)
    return entry is not None and entry.method != "reject"


def pg_isready_command(inventory: Inventory, address: str) -> tuple[str, ...]:
    """pg_isready for xCAT's database on `address`, as NodeFacts.run takes it (command, then its arguments).

    One form for every check that asks whether the database answers (pg.accepting, xcatd_reads).
    """
    db = inventory.database
    return "pg_isready -q -t 5 -h %s -p %s -d %s", address, str(db.port), db.name
