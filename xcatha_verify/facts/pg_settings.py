"""What a running PostgreSQL uses, asked of the server itself, and what its next start would use.

`pg_settings` holds the values in effect (with where each came from and `pending_restart`);
`pg_file_settings` is the server's own reading, made at the moment of the query, of every file it
reads in its own order (postgresql.conf, its include/include_if_exists/include_dir files,
postgresql.auto.conf last), so the value a restart would take is the last of its rows, unless
the command line (`-c` in the unit) sets it, which wins over every file.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.system import effective_exec_start

SETTING_NAMES = ("listen_addresses", "hba_file", "data_directory", "port")
COMMAND_LINE = "command line"  # pg_settings.source of a -c option (or --name=value) of the postgres command
# One CSV: ('running', name, value, source, file, line, pending_restart) for pg_settings, then
# ('file', name, value, '', file, line, error) for pg_file_settings in the server's reading order.
SERVER_SETTINGS_SQL = (  # noqa: S608 (constant names, never input)
    "copy (select 'running', name, setting, source, coalesce(sourcefile, ''), coalesce(sourceline::text, ''), "
    "pending_restart::text, 0 as seq from pg_settings where name in ({names}) "
    "union all select 'file', lower(name), coalesce(setting, ''), '', coalesce(sourcefile, ''), "
    "coalesce(sourceline::text, ''), coalesce(error, ''), seqno from pg_file_settings where lower(name) in ({names}) "
    "order by 1 desc, 8) to stdout with csv"
).format(names=", ".join(f"'{n}'" for n in SETTING_NAMES))


@dataclass(frozen=True)
class ServerSetting:
    """One value and where it comes from (`file` and `line` empty/0 for a default or the command line)."""

    name: str
    value: str
    source: str  # pg_settings.source ('configuration file', 'command line', 'default', ...); '' for a file row
    file: str
    line: int
    pending_restart: bool = False
    error: str = ""  # a file row the server could not apply now, and why (a restart setting: always)

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line}" if self.file else (self.source or "PostgreSQL's default")


@dataclass(frozen=True)
class ServerSettings:
    running: dict[str, ServerSetting]
    file_rows: list[ServerSetting]  # in the order the server reads them

    def after_restart(self, name: str) -> ServerSetting | None:
        """The value the next start takes from the files: the last row for `name`, its error or not (a
        server setting changed since the start always reads "setting could not be applied": it needs
        the restart); None when no file sets it (then the command line or the built-in default decides)."""
        rows = [row for row in self.file_rows if row.name == name]
        return rows[-1] if rows else None


def parse_server_settings(text: str) -> ServerSettings:
    running: dict[str, ServerSetting] = {}
    file_rows: list[ServerSetting] = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) != 8 or row[0] not in ("running", "file"):
            raise FactError(f"unexpected line from pg_settings: {','.join(row)[:200]!r}")
        kind, name, value, source, file, line, extra, _seq = row
        number = int(line) if line.isdigit() else 0
        if kind == "running":
            running[name] = ServerSetting(name, value, source, file, number, pending_restart=extra == "true")
        else:
            file_rows.append(ServerSetting(name, value, "", file, number, error=extra))
    if "listen_addresses" not in running:
        raise FactError("pg_settings has no listen_addresses row")
    return ServerSettings(running, file_rows)


# -c listen_addresses=V, -c "listen_addresses=V" (systemd's quoting), -c listen_addresses='V', --listen-addresses=V
_OPTION = re.compile(r"""(?:-c\s*["']?|--)listen[_-]addresses=(?P<value>"[^"]*"|'[^']*'|[^\s;"']*)""")


def command_line_listen(systemctl_cat: str) -> tuple[str, str] | None:
    """(file, value) of the `-c listen_addresses=...` (or `--listen_addresses=`) on the unit's effective
    ExecStart: the last file that sets ExecStart decides (a drop-in's `ExecStart=` resets it)."""
    start = effective_exec_start(systemctl_cat)
    found = _OPTION.search(start[1]) if start else None
    return (start[0], found.group("value").strip("'\"")) if start and found else None
