"""The `prepare_*` actions: read a node's file or table, compute the idempotent edit, back up, write, show the diff.

Each returns what it changed as a unified diff (empty when the node already matches), so a
second `prepare` is a no-op and `--dry-run` shows the same diff without writing.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import shlex
import time
from collections.abc import Callable

from testinfra.host import Host

from xcatha_verify.errors import XcathaError
from xcatha_verify.facts.hosts import addresses_for, parse_hosts
from xcatha_verify.facts.network import IP_ADDR_COMMAND, parse_ip_addr_json
from xcatha_verify.facts.node import NodeFacts, xcat_command
from xcatha_verify.facts.xcat import parse_cfgloc
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook_engine import edits
from xcatha_verify.runbook_engine.edits import Edit
from xcatha_verify.runbook_engine.model import StepOutcome

XCAT_COMMAND_TIMEOUT_S = 60


def _read(host: Host, path: str) -> str | None:
    result = host.run("cat -- %s", path)
    return result.stdout if result.rc == 0 else None


def _resolver(host: Host):  # noqa: ANN202 - a small closure
    hosts = parse_hosts(_read(host, "/etc/hosts") or "")
    return lambda name: [str(a) for a in addresses_for(hosts, name)] or (
        ["127.0.0.1", "::1"] if name == "localhost" else []
    )


def _write(host: Host, edit: Edit, stamp: str) -> StepOutcome:
    backup = edits.backup_path(edit.path, stamp)
    # Copy first (keeps owner and mode), then overwrite in place (keeps them on the file too).
    path = shlex.quote(edit.path)
    script = f"cp -p -- {path} {shlex.quote(backup)} && printf %s {shlex.quote(edit.after)} > {path}"
    result = host.run(script)
    if result.rc != 0:
        return StepOutcome(result.rc, f"could not write {edit.path}: {result.stderr.strip()}")
    return StepOutcome(0, f"{edit.reason}\nbackup: {backup}\n{edit.diff}")


def _apply(host: Host, edit: Edit, dry_run: bool, stamp: str) -> StepOutcome:
    if not edit.changed:
        return StepOutcome(0, edit.reason)
    if dry_run:
        return StepOutcome(0, f"would change {edit.path}:\n{edit.diff}")
    return _write(host, edit, stamp)


def _xcat_table_edit(host: Host, table: str, commands: list[list[str]], noop: str, dry_run: bool,
                     stamp: str) -> StepOutcome:  # fmt: skip
    """Run xCAT commands that change `table`, after saving it with `tabdump -f` (restored by `tabrestore`)."""
    if not commands:
        return StepOutcome(0, noop)
    shown = "\n".join(shlex.join(argv) for argv in commands)
    if dry_run:
        return StepOutcome(0, f"would run:\n{shown}")
    backup = edits.backup_path(f"/etc/xcat/{table}.csv", stamp)
    # The saved copy is also the "before" of the diff: one read of the table through xcatd, not two.
    saved = host.run(xcat_command("tabdump -f %s %s && cat -- %s"), backup, table, backup)
    if saved.rc != 0:
        said = (saved.stderr or saved.stdout).strip()
        return StepOutcome(saved.rc, f"could not save the {table} table to {backup}: {said}")
    out = []
    for argv in commands:
        result = host.run(xcat_command(shlex.join(argv), XCAT_COMMAND_TIMEOUT_S))
        out.append(f"$ {shlex.join(argv)}\n{result.stdout.strip()}".rstrip())
        if result.rc != 0:
            return StepOutcome(result.rc, "\n".join(out) + f"\n{result.stderr.strip()}\nbackup: {backup}")
    after = host.run(xcat_command("tabdump %s"), table)
    diff = "".join(difflib.unified_diff(saved.stdout.splitlines(True), after.stdout.splitlines(True),
                                        f"{table} (before)", f"{table} (after)"))  # fmt: skip
    return StepOutcome(0, "\n".join(out) + f"\nbackup: {backup} (restore: tabrestore {backup})\n{diff}")


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S")


def _refusals_as_outcome(edit: Callable[[Host, Inventory, Node, bool], StepOutcome]
                         ) -> Callable[[Host, Inventory, Node, bool], StepOutcome]:  # fmt: skip
    """An edit the node's state refuses (EditRefused, FactError) ends the step with its reason: the operator decides."""

    @functools.wraps(edit)
    def run(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
        try:
            return edit(host, inventory, node, dry_run)
        except XcathaError as exc:
            return StepOutcome(1, str(exc))

    return run


def _unreadable(path: str, node: Node) -> StepOutcome:
    return StepOutcome(1, f"{path} cannot be read on {node.name}: is the shared data connected here?")


@_refusals_as_outcome
def prepare_pg_listen(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """postgresql.conf's listen_addresses cover the VIP and both static IPs."""
    path = inventory.database.conf_file
    text = _read(host, path)
    if text is None:
        return _unreadable(path, node)
    edit = edits.ensure_listen_addresses(text, path, edits.listen_required(inventory), resolve=_resolver(host),
                                   read=lambda p: _read(host, p))  # fmt: skip
    return _apply(host, edit, dry_run, _stamp())


@_refusals_as_outcome
def prepare_pg_hba(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """pg_hba.conf lets xCAT's user in from the VIP and both static IPs."""
    db = inventory.database
    path = db.hba_file or ""
    text = _read(host, path)
    if text is None:
        return _unreadable(path, node)
    server = [ipaddress.ip_interface(f"{a.address}/{a.prefix}")
              for a in parse_ip_addr_json(host.check_output(IP_ADDR_COMMAND))]  # fmt: skip
    cfgloc = _read(host, db.cfgloc)
    user = parse_cfgloc(cfgloc).user if cfgloc else "xcatadm"
    edit = edits.ensure_hba_entries(text, path, edits.hba_required(inventory), db_name=db.name, db_user=user,
                              server_addresses=server, resolve=_resolver(host),
                              read=lambda p: _read(host, p))  # fmt: skip
    return _apply(host, edit, dry_run, _stamp())


@_refusals_as_outcome
def prepare_hosts(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """/etc/hosts names the VIP."""
    text = _read(host, "/etc/hosts") or ""
    edit = edits.ensure_hosts_entry(text, inventory.vip.address, edits.hosts_names(inventory), why="the VIP")
    return _apply(host, edit, dry_run, _stamp())


@_refusals_as_outcome
def prepare_mgtifname(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """Every provision network's mgtifname is the VIP's label."""
    vip = inventory.vip
    facts = NodeFacts(host, node, inventory)
    commands = edits.mgtifname_commands(facts.networks_table, list(inventory.mgt_networks), vip.label,
                                        vip=str(vip.address))  # fmt: skip
    noop = f"noop: every provision network already has mgtifname={vip.label}"
    return _xcat_table_edit(host, "networks", commands, noop, dry_run, _stamp())


@_refusals_as_outcome
def prepare_site_master(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """The site table's master (and nameservers) name the VIP."""
    vip = inventory.vip
    facts = NodeFacts(host, node, inventory)
    commands = edits.site_master_commands(facts.site_table, str(vip.address), [vip.hostname, vip.short_name])
    noop = "noop: the site table's master (and nameservers) already name the VIP"
    return _xcat_table_edit(host, "site", commands, noop, dry_run, _stamp())


@_refusals_as_outcome
def prepare_policy(host: Host, inventory: Inventory, node: Node, dry_run: bool) -> StepOutcome:
    """The policy table trusts the shared server certificate's name."""
    facts = NodeFacts(host, node, inventory)
    name = facts.server_cert_cn
    commands = edits.policy_commands(facts.policy_table, name)
    return _xcat_table_edit(host, "policy", commands, f"noop: the policy table already trusts {name}", dry_run,
                            _stamp())  # fmt: skip
