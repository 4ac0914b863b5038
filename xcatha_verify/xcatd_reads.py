"""Reading xCAT's tables inside a check: a failed read fails the check with its cause.

The tables come from xCAT's database (or, for `xcat.xcatd`, through xcatd itself); either way a
failed read is explained in order: cfgloc (or XCATCFG) missing, PostgreSQL on cfgloc's host (the
VIP), then xcatd itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import NoReturn, TypeVar

from xcatha_verify.checkkit import fail
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.facts.postgres import PG_ISREADY, pg_isready_command
from xcatha_verify.inventory import Inventory

T = TypeVar("T")


def xcat_table_or_cause(facts: NodeFacts, inventory: Inventory, read: Callable[[], T], expected: str) -> T:
    """What `read` reads (a table fact of NodeFacts); the check fails with the cause when it cannot."""
    try:
        return read()
    except FactError as exc:
        unreadable(facts, inventory, exc, expected)


def unreadable(facts: NodeFacts, inventory: Inventory, exc: FactError, expected: str) -> NoReturn:
    """Fail a check whose table read through xcatd failed, naming the cause: the database, or xcatd.

    xcatd needs its database even for `lsxcatd -a` (its policy check reads a table), so the database
    is asked first (pg_isready on cfgloc's host, the VIP); then `lsxcatd -a` tells a daemon that does
    not answer at all from one that answers but cannot read the table. The cause is looked for once
    per run: every check reading through a hung xcatd would otherwise wait out `lsxcatd -a` again.
    """
    why, fix = facts.once("xcatd-unreadable-cause", lambda: _cause(facts, inventory))
    fail(observed=f"{exc}; {why}", expected=expected, fix=fix)


def _cause(facts: NodeFacts, inventory: Inventory) -> tuple[str, str]:
    """(what is wrong, its fix) for a failed read through xcatd."""
    unit, db_unit = inventory.xcatd_unit, inventory.database_service.unit
    with contextlib.suppress(FactError):
        where, text = facts.xcat_database_config()
        if text is None:
            return (f"{where} does not exist (xcatd finds its database there)",
                    "connect the shared data (/etc/xcat), then systemctl restart " + unit)  # fmt: skip
    cause = _database_cause(facts, inventory)
    if cause:
        return f"the database is the cause: {cause}", f"systemctl start {db_unit}, then systemctl restart {unit}"
    daemon = facts.xcat("lsxcatd -a")
    if daemon.rc != 0 or "dbengine=" not in daemon.stdout:
        answer = (daemon.stderr or daemon.stdout).strip().splitlines()
        said = "no answer within the time limit (xcatd hung?)" if daemon.rc == 124 else (
            f"exit {daemon.rc}: {answer[-1] if answer else 'no output'}")
        return f"lsxcatd -a: {said}", f"systemctl restart {unit}; see journalctl -u {unit}"
    return ("xcatd answers lsxcatd -a and PostgreSQL accepts connections on the VIP",
            f"see journalctl -u {unit}; check cfgloc's user and pg_hba.conf for this node")  # fmt: skip


def _database_cause(facts: NodeFacts, inventory: Inventory) -> str | None:
    """Why xCAT's database does not answer, as pg_isready says it for cfgloc's host; None when it answers."""
    vip = str(inventory.vip.address)
    result = facts.run(*pg_isready_command(inventory, vip))  # asked as pg.accepting asks it
    if result.rc == 0:
        return None
    return f"PostgreSQL at {vip}:{inventory.database.port}: {PG_ISREADY.get(result.rc, f'exit {result.rc}')}"
