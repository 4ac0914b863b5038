"""What starting a service depends on, judged from a node's facts: one table for the runbooks' `when:`
and for what `services.running` expects to run.

xcatha.py starts named and dhcpd only when the site table has a domain, and one console server:
the one console.lock names, else the site table's consoleservice, else what is installed
(`NodeFacts.console_choice`). Each condition gives (holds, why) and raises FactError when the node
cannot tell (the site table cannot be read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from xcatha_verify.facts.node import NodeFacts

Condition = Literal["site_domain", "console_server:conserver", "console_server:goconserver"]
# A service role the procedure starts only under a condition.
SERVICE_CONDITIONS: dict[str, Condition] = {
    "named": "site_domain", "dhcpd": "site_domain",
    "conserver": "console_server:conserver", "goconserver": "console_server:goconserver",
}  # fmt: skip


def _site_domain(facts: NodeFacts) -> tuple[bool, str]:
    domain = facts.site_domain
    return bool(domain), f"site domain {domain!r}" if domain else "no domain in the site table"


def _console_server(server: str) -> Callable[[NodeFacts], tuple[bool, str]]:
    def holds(facts: NodeFacts) -> tuple[bool, str]:
        found, why = facts.console_choice
        return found == server, why

    return holds


CONDITIONS: dict[Condition, Callable[[NodeFacts], tuple[bool, str]]] = {
    "site_domain": _site_domain,
    "console_server:conserver": _console_server("conserver"),
    "console_server:goconserver": _console_server("goconserver"),
}


def condition_holds(facts: NodeFacts, condition: Condition) -> tuple[bool, str]:
    """(holds, why) for `condition` on the node of `facts`; FactError when the node cannot tell."""
    return CONDITIONS[condition](facts)


def is_console_condition(condition: Condition) -> bool:
    return condition.startswith("console_server:")
