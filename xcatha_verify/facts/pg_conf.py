"""PostgreSQL's ``postgresql.conf``, read by the server's own rules (``guc-file.l``), and whether its
``listen_addresses`` cover an address.

``postgresql.conf`` follows ``guc-file.l``: ``name [=] value`` per line, names case-insensitive,
values a single-quoted string (``''`` and backslash escapes), a number with optional unit, or a
bare word; ``#`` comments; the last assignment wins; ``include``, ``include_if_exists`` and
``include_dir`` resolve relative paths against the including file's directory and nest at most
10 deep.

Files are reached only through the ``read``/``list_dir`` callables handed in, so every function
here is pure and can be tested with a dict of file texts. ``ALTER SYSTEM`` settings live in
``postgresql.auto.conf``, which the server reads after ``postgresql.conf``: parse it too and let it
win (``{**parse_postgresql_conf(conf), **parse_postgresql_conf(auto)}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.postgres import (
    Includes,
    IPAddress,
    Lister,
    Reader,
    Resolver,
    no_resolve,
    parse_ip,
    resolved,
)

DEFAULT_LISTEN_ADDRESSES = "localhost"  # what the server listens on when the setting is absent


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
    includes = Includes(read, list_dir, "configuration")

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


def listen_covers(listen: Iterable[str], address: str, resolve: Resolver = no_resolve) -> bool:
    """Whether the server listens on ``address`` (an IP literal, or a name: then all it resolves to).

    ``*`` covers everything, ``0.0.0.0`` every IPv4 and ``::`` every IPv6 address (PostgreSQL sets
    IPV6_V6ONLY). Other entries are IP literals compared as addresses, or host names (``localhost``
    included) that are resolved through ``resolve``.
    """
    entries = [entry for entry in listen if entry]
    literal = parse_ip(address)
    targets = [literal] if literal is not None else resolved(address, resolve)
    if not targets:
        return False

    def covers(entry: str, target: IPAddress) -> bool:
        if entry == "*":
            return True
        ip = parse_ip(entry)
        if ip is None:
            return target in resolved(entry, resolve)
        if ip.is_unspecified:
            return ip.version == target.version
        return ip == target

    return all(any(covers(entry, target) for entry in entries) for target in targets)
