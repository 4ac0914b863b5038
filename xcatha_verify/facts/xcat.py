"""xCAT's own configuration: cfgloc, object definitions as lsdef prints them, tables as tabdump prints them.

``/etc/xcat/cfgloc`` names the database xCAT keeps its tables in, one line::

    Pg:dbname=xcatdb;host=10.5.106.7|xcatadm|PASSWORD
    mysql:dbname=xcatdb;host=10.5.106.7|xcatadmin|PASSWORD

(``;port=N`` may follow the host). The password never appears in ``repr``/``str`` of the parsed
value nor in any error message: errors quote only connection keys and port digits, never free text
that might be (part of) the secret.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from xcatha_verify.facts.network import FactError

CFGLOC_PATH = "/etc/xcat/cfgloc"
ENGINES = ("Pg", "mysql")
REDACTED = "********"
CONNECTION_KEYS = ("dbname", "host", "port")
# Other names DBD::Pg and DBD::mysql take for the same DSN keys.
DSN_ALIASES = {"db": "dbname", "database": "dbname", "hostname": "host"}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\Z")


class CfgLocError(FactError):
    """cfgloc is missing or malformed. The message never contains the password."""


@dataclass(frozen=True)
class CfgLoc:
    """The parsed cfgloc line. ``password`` is excluded from ``repr`` (and so from ``str``)."""

    engine: str  # "Pg" or "mysql", as xCAT spells them
    dbname: str
    host: str
    port: int | None
    user: str
    password: str = field(repr=False)
    connection: str = ""  # the text between "ENGINE:" and the first "|", as written (no secret)

    @property
    def public_text(self) -> str:
        """cfgloc without its password, as ``lsxcatd -d`` shows it: ``Pg:dbname=...;host=...|user``."""
        connection = self.connection or f"dbname={self.dbname};host={self.host}" + (
            f";port={self.port}" if self.port is not None else "")
        return f"{self.engine}:{connection}|{self.user}"

    def redacted(self) -> str:
        """The cfgloc line with the password replaced by ``********``."""
        return f"{self.public_text}|{REDACTED}"


def parse_cfgloc(text: str) -> CfgLoc:
    """Parse xCAT's cfgloc (``Pg:`` or ``mysql:``) as xCAT's Table.pm reads it; CfgLocError when unusable.

    Table.pm reads the first line only (a newline chomped, nothing else stripped) and splits it on
    ``|`` into the DBI connection, the user and the password (any further field is ignored). The
    connection may start with ``dbi:``; its ``;``-separated items are DSN keys, any of which DBI
    passes on (``dbname``, ``host``, ``port``, ``sslmode``, ...): ``dbname`` (or ``db``,
    ``database``) and ``host`` must be there. An empty first line makes xCAT fall back to SQLite.
    (The XCATCFG environment variable, when xcatd has it, wins over the file: not read here.)
    """
    line = text.split("\n", 1)[0]
    if not line.strip():
        raise CfgLocError("cfgloc's first line is empty: xCAT reads only that line (and then uses SQLite)")
    if line != line.strip():
        where = "a carriage return (CRLF)" if line.endswith("\r") else "leading or trailing blanks"
        raise CfgLocError(f"cfgloc's first line has {where}: xCAT reads them as part of the engine or password")
    connection_text, _, credentials = line.partition("|")
    connection_text = connection_text.removeprefix("dbi:")
    engine, sep, connection = connection_text.partition(":")
    if not sep or not _WORD.match(engine):
        raise CfgLocError("cfgloc must start with the database engine, e.g. 'Pg:'")
    if engine not in ENGINES:
        raise CfgLocError(f"unsupported database engine {engine!r} in cfgloc; expected one of "
                          + ", ".join(repr(e) for e in ENGINES))
    fields = credentials.split("|")
    if not credentials or len(fields) < 2:
        raise CfgLocError(f"cfgloc must look like '{engine}:dbname=DB;host=HOST[;port=PORT]|USER|PASSWORD'")
    user, password = fields[0], fields[1]
    if not user:
        raise CfgLocError("cfgloc names no database user")
    values: dict[str, str] = {}
    for number, item in enumerate(connection.split(";"), 1):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = DSN_ALIASES.get(key.strip(), key.strip())
        if not eq or not _WORD.match(key):
            raise CfgLocError(f"cfgloc connection item {number} is not a KEY=VALUE item")
        values[key] = value.strip()
    for required in ("dbname", "host"):
        if not values.get(required):
            raise CfgLocError(f"cfgloc has no {required}= in its connection part")
    port: int | None = None
    if "port" in values:
        raw = values["port"]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
            shown = repr(raw) if raw.isascii() and raw.isdigit() else "value"
            raise CfgLocError(f"cfgloc port {shown} is not a TCP port number (1-65535)")
        port = int(raw)
    return CfgLoc(engine, values["dbname"], values["host"], port, user, password, connection)


_OBJECT_NAME = "Object name:"
# Lines real lsdef prints beside the objects: no object at all, and the client's certificate warning.
LSDEF_NOTES = ("Could not find any object definitions to display.", "warning: the client certificates under ")


def parse_lsdef(text: str) -> dict[str, dict[str, str]]:
    """``lsdef -l`` / ``lsdef -i ATTRS`` output: object name -> {attribute: value}, in output order.

    Objects start with ``Object name: NAME``; attributes are indented ``name=value`` lines (the
    value may contain ``=``; ``mgtifname=`` is an unset one). Blank lines and the notes real lsdef
    prints beside objects (LSDEF_NOTES) are skipped; anything else raises FactError with its line.
    """
    objects: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(LSDEF_NOTES):
            continue
        if stripped.startswith(_OBJECT_NAME):
            name = stripped[len(_OBJECT_NAME):].strip()
            if not name:
                raise FactError(f"lsdef line {number}: 'Object name:' without a name")
            current = objects.setdefault(name, {})
            continue
        key, eq, value = stripped.partition("=")
        if current is None or not eq or not key or not line[:1].isspace():
            raise FactError(f"lsdef line {number}: expected 'Object name: NAME' or an indented attr=value line")
        current[key] = value
    return objects


def parse_tabdump(text: str) -> list[dict[str, str]]:
    """``tabdump TABLE`` output: its rows as {column: value}, a NULL column as "".

    xCAT prints a header ``#col1,col2,...`` then one CSV row per table row, each set value in double
    quotes with ``"`` doubled (tabutils.pm ``output_table``). Lines before the header (a client's
    warning about its certificates) are skipped; output without a header raises FactError. A table
    read while xcatd cannot reach its database prints the header alone (and exits 0): that is an
    empty list here, and the caller decides what an empty table means.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("#")), None)
    if start is None:
        raise FactError("tabdump: no '#column,...' header in its output")
    columns = lines[start][1:].split(",")
    rows = []
    for number, fields in enumerate(csv.reader(lines[start + 1:]), start + 2):
        if not fields:
            continue
        if len(fields) != len(columns):
            raise FactError(f"tabdump line {number}: {len(fields)} fields for {len(columns)} columns")
        rows.append(dict(zip(columns, fields, strict=True)))
    return rows


def site_not_the_vip(site: dict[str, str], vip: str, vip_names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The site table's keys that should name the VIP and do not: key -> its value ("" when unset).

    ``master`` must be the VIP (its address or one of ``vip_names``); ``nameservers``, when set, may
    hold only the VIP and xCAT's ``<xcatmaster>``. An unset ``nameservers`` is left unset.
    """
    own = {vip, *vip_names}
    wrong = {}
    if site.get("master", "") not in own:
        wrong["master"] = site.get("master", "")
    nameservers = [n.strip() for n in site.get("nameservers", "").split(",") if n.strip()]
    if any(n not in own and n != "<xcatmaster>" for n in nameservers):
        wrong["nameservers"] = site.get("nameservers", "")
    return wrong


def policy_rows_for(rows: list[dict[str, str]], name: str) -> tuple[list[dict[str, str]], bool]:
    """The policy table's rows naming ``name``, and whether one of them trusts it (``rule=trusted``)."""
    mine = [r for r in rows if r.get("name", "") == name]
    return mine, any(r.get("rule", "").lower() == "trusted" for r in mine)


ENABLED_VALUES = ("", "0", "no")  # a row xCAT uses: Table.pm reads "disable is NULL or in ('0','no')"


def enabled_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows xCAT uses (Table.pm: "disable is NULL or in ('0','no')")."""
    return [row for row in rows if row.get("disable", "").strip().lower() in ENABLED_VALUES]


def parse_psql_tables(text: str, tables: tuple[str, ...]) -> dict[str, list[dict[str, str]]]:
    """What `_psql_tables_command` printed: each table's CSV (header first) after its `@@table NAME` line."""
    found: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"^@@table ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = [{k: v or "" for k, v in row.items()} for row in csv.DictReader(io.StringIO(body))]
    missing = [t for t in tables if t not in found]
    if missing:
        raise FactError(f"psql printed no {', '.join(missing)} table")
    return found
