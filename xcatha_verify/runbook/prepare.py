"""The `prepare` actions: read a node's file, compute the idempotent edit, back up, write, show the diff.

Each returns what it changed as a unified diff (empty when the node already matches), so a
second `prepare` is a no-op and `--dry-run` shows the same diff without writing.
"""

from __future__ import annotations

import difflib
import ipaddress
import shlex
import time

from testinfra.host import Host

from xcatha_verify.actions.edits import (
    Edit,
    backup_path,
    ensure_hba_entries,
    ensure_hosts_entry,
    ensure_listen_addresses,
    hba_required,
    hosts_names,
    listen_required,
    mgtifname_commands,
    policy_commands,
    site_master_commands,
)
from xcatha_verify.errors import XcathaError
from xcatha_verify.facts.hosts import addresses_for, parse_hosts
from xcatha_verify.facts.network import IP_ADDR_COMMAND, parse_ip_addr_json
from xcatha_verify.facts.node import NodeFacts, xcat_command
from xcatha_verify.facts.xcat import parse_cfgloc
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.runbook.actions import Outcome

XCAT_TABLE_ACTIONS = ("prepare_mgtifname", "prepare_site_master", "prepare_policy")
PREPARE_ACTIONS = ("prepare_pg_listen", "prepare_pg_hba", "prepare_hosts", *XCAT_TABLE_ACTIONS)
XCAT_COMMAND_TIMEOUT_S = 60


def _read(host: Host, path: str) -> str | None:
    result = host.run("cat -- %s", path)
    return result.stdout if result.rc == 0 else None


def _resolver(host: Host):  # noqa: ANN202 - a small closure
    hosts = parse_hosts(_read(host, "/etc/hosts") or "")
    return lambda name: [str(a) for a in addresses_for(hosts, name)] or (
        ["127.0.0.1", "::1"] if name == "localhost" else []
    )


def _write(host: Host, edit: Edit, stamp: str) -> Outcome:
    backup = backup_path(edit.path, stamp)
    # Copy first (keeps owner and mode), then overwrite in place (keeps them on the file too).
    path = shlex.quote(edit.path)
    script = f"cp -p -- {path} {shlex.quote(backup)} && printf %s {shlex.quote(edit.after)} > {path}"
    result = host.run(script)
    if result.rc != 0:
        return Outcome(result.rc, f"could not write {edit.path}: {result.stderr.strip()}")
    return Outcome(0, f"{edit.reason}\nbackup: {backup}\n{edit.diff}")


def _apply(host: Host, edit: Edit, dry_run: bool, stamp: str) -> Outcome:
    if not edit.changed:
        return Outcome(0, edit.reason)
    if dry_run:
        return Outcome(0, f"would change {edit.path}:\n{edit.diff}")
    return _write(host, edit, stamp)


def _xcat_table_edit(host: Host, table: str, commands: list[list[str]], noop: str, dry_run: bool,
                     stamp: str) -> Outcome:  # fmt: skip
    """Run xCAT commands that change `table`, after saving it with `tabdump -f` (restored by `tabrestore`)."""
    if not commands:
        return Outcome(0, noop)
    shown = "\n".join(shlex.join(argv) for argv in commands)
    if dry_run:
        return Outcome(0, f"would run:\n{shown}")
    backup = backup_path(f"/etc/xcat/{table}.csv", stamp)
    # The saved copy is also the "before" of the diff: one read of the table through xcatd, not two.
    saved = host.run(xcat_command("tabdump -f %s %s && cat -- %s"), backup, table, backup)
    if saved.rc != 0:
        said = (saved.stderr or saved.stdout).strip()
        return Outcome(saved.rc, f"could not save the {table} table to {backup}: {said}")
    out = []
    for argv in commands:
        result = host.run(xcat_command(shlex.join(argv), XCAT_COMMAND_TIMEOUT_S))
        out.append(f"$ {shlex.join(argv)}\n{result.stdout.strip()}".rstrip())
        if result.rc != 0:
            return Outcome(result.rc, "\n".join(out) + f"\n{result.stderr.strip()}\nbackup: {backup}")
    after = host.run(xcat_command("tabdump %s"), table)
    diff = "".join(difflib.unified_diff(saved.stdout.splitlines(True), after.stdout.splitlines(True),
                                        f"{table} (before)", f"{table} (after)"))  # fmt: skip
    return Outcome(0, "\n".join(out) + f"\nbackup: {backup} (restore: tabrestore {backup})\n{diff}")


def run_prepare(host: Host, action: str, inventory: Inventory, node: Node, dry_run: bool) -> Outcome:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    db = inventory.database
    try:
        if action in ("prepare_pg_listen", "prepare_pg_hba"):
            path = db.conf_file if action == "prepare_pg_listen" else (db.hba_file or "")
            text = _read(host, path)
            if text is None:
                return Outcome(1, f"{path} cannot be read on {node.name}: is the shared data connected here?")
            if action == "prepare_pg_listen":
                edit = ensure_listen_addresses(text, path, listen_required(inventory), resolve=_resolver(host),
                                               read=lambda p: _read(host, p))  # fmt: skip
            else:
                server = [ipaddress.ip_interface(f"{a.address}/{a.prefix}")
                          for a in parse_ip_addr_json(host.check_output(IP_ADDR_COMMAND))]  # fmt: skip
                cfgloc = _read(host, db.cfgloc)
                user = parse_cfgloc(cfgloc).user if cfgloc else "xcatadm"
                edit = ensure_hba_entries(text, path, hba_required(inventory), db_name=db.name, db_user=user,
                                          server_addresses=server, resolve=_resolver(host),
                                          read=lambda p: _read(host, p))  # fmt: skip
            return _apply(host, edit, dry_run, stamp)
        if action == "prepare_hosts":
            text = _read(host, "/etc/hosts") or ""
            edit = ensure_hosts_entry(text, inventory.vip.address, hosts_names(inventory), why="the VIP")
            return _apply(host, edit, dry_run, stamp)
        if action in XCAT_TABLE_ACTIONS:
            facts = NodeFacts(host, node, inventory)
            vip = inventory.vip
            if action == "prepare_mgtifname":
                table, noop = "networks", f"noop: every provision network already has mgtifname={vip.label}"
                commands = mgtifname_commands(facts.networks_table, list(inventory.mgt_networks), vip.label,
                                              vip=str(vip.address))  # fmt: skip
            elif action == "prepare_site_master":
                table, noop = "site", "noop: the site table's master (and nameservers) already name the VIP"
                commands = site_master_commands(facts.site_table, str(vip.address), [vip.hostname, vip.short_name])
            else:
                name = facts.server_cert_cn
                table, noop = "policy", f"noop: the policy table already trusts {name}"
                commands = policy_commands(facts.policy_table, name)
            return _xcat_table_edit(host, table, commands, noop, dry_run, stamp)
    except XcathaError as exc:  # EditRefused, FactError: the operator decides
        return Outcome(1, str(exc))
    return Outcome(2, f"unknown prepare action {action}")
