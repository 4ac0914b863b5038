"""cfgloc reading and PostgreSQL access through ``psql`` for the xcatd stand-in (lab test equipment).

xCAT names its PostgreSQL database in ``/etc/xcat/cfgloc``, one line::

    Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|SECRETPASSWORD

(``;port=5432`` may follow the host). The parser is the product's
(:func:`xcatha_verify.facts.xcat.parse_cfgloc`, re-exported here with ``CfgLoc`` and ``CfgLocError``);
the lab only adds that the engine must be ``Pg``. The password in it never leaves this module except as the
``PGPASSWORD`` environment variable of the ``psql`` child: it is kept out of ``repr``, out of
error messages and off every command line.

Values reach SQL only as psql variables (``-v name=value`` on the command line, ``:'name'`` in
the script, which psql quotes as a literal), never by formatting them into the SQL text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from xcatha_verify.errors import XcathaError
from xcatha_verify.facts.xcat import CfgLoc, CfgLocError
from xcatha_verify.facts.xcat import parse_cfgloc as _parse_cfgloc

__all__ = ["CfgLoc", "CfgLocError", "DatabaseError", "DatabaseUnavailable", "parse_cfgloc", "ping", "query",
           "read_cfgloc", "run_psql"]

PSQL_TIMEOUT = 30.0
CONNECT_TIMEOUT_SECONDS = "5"
_VAR_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class DatabaseError(XcathaError, RuntimeError):
    """psql connected but the SQL failed."""


class DatabaseUnavailable(DatabaseError, ConnectionError):
    """psql could not connect to (or lost) the database server."""


def parse_cfgloc(text: str) -> CfgLoc:
    """Parse cfgloc with the product parser; the lab supports only PostgreSQL ('Pg:')."""
    cfg = _parse_cfgloc(text)
    if cfg.engine != "Pg":
        raise CfgLocError(f"unsupported database engine {cfg.engine!r} in cfgloc; the lab supports only 'Pg'")
    return cfg


def read_cfgloc(path: Path) -> CfgLoc:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CfgLocError(f"cannot read {path}: {exc.strerror}") from None
    return parse_cfgloc(text)


def _psql_env(cfg: CfgLoc) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = cfg.password
    env["PGCONNECT_TIMEOUT"] = CONNECT_TIMEOUT_SECONDS
    env["PGAPPNAME"] = "xcatd-standin"
    return env


def run_psql(cfg: CfgLoc, script: str, variables: dict[str, str] | None = None) -> str:
    """Run ``script`` (fed on stdin) with psql; return its unaligned, tuples-only stdout.

    ``variables`` become ``-v name=value``; refer to them in the script as ``:'name'``.
    Raises DatabaseUnavailable when psql cannot connect, DatabaseError when the SQL fails.
    """
    argv = ["psql", "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
            "-h", cfg.host, "-U", cfg.user, "-d", cfg.dbname]
    if cfg.port is not None:
        argv += ["-p", str(cfg.port)]
    for name, value in (variables or {}).items():
        if not _VAR_NAME.match(name):
            raise ValueError(f"bad psql variable name {name!r}")
        argv += ["-v", f"{name}={value}"]
    try:
        proc = subprocess.run(argv, input=script, capture_output=True, text=True,
                              env=_psql_env(cfg), timeout=PSQL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise DatabaseUnavailable(f"psql did not finish within {PSQL_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise DatabaseError(f"cannot run psql: {exc.strerror}") from None
    # psql: 2 = could not connect / connection lost, 3 = script error under ON_ERROR_STOP.
    message = (proc.stderr.strip().splitlines() or ["no message"])[-1]
    if proc.returncode == 2:
        raise DatabaseUnavailable(message)
    if proc.returncode != 0:
        raise DatabaseError(message)
    return proc.stdout


def query(cfg: CfgLoc, select: str, variables: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run one SELECT; return its rows as dicts (NULL is None). Values are bound psql variables."""
    script = f"select coalesce(json_agg(q), '[]'::json) from (\n{select}\n) as q;\n"  # noqa: S608 - callers' own SQL
    out = run_psql(cfg, script, variables).strip()
    rows = json.loads(out) if out else []
    if not isinstance(rows, list):
        raise DatabaseError("unexpected psql output")
    return rows


def ping(cfg: CfgLoc) -> None:
    """Check the database answers ``select 1``."""
    if run_psql(cfg, "select 1;\n").strip() != "1":
        raise DatabaseError("select 1 did not return 1")
