"""xcatha-run: perform deactivate, activate, failover or failback, each stage gated by the readiness checks.

Exit status: 0 done (or a dry run whose gates that could be judged are green), 1 stopped on red / lock
held / operator said no (or a dry run found a red gate), 2 usage or inventory error, 130 interrupted.
After a stop, a "pair now" block says what each node holds and how to continue or go back.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from xcatha_verify.cli.common import LOG_FORMAT, Parser, add_version, run_main, setup_logging
from xcatha_verify.errors import NodeUnreachable, UsageError, XcathaError
from xcatha_verify.inventory import DEFAULT_INVENTORY_PATH, Inventory, Node, load_inventory
from xcatha_verify.nodepaths import NODE_LOCK, shared_lock_path
from xcatha_verify.report import redact
from xcatha_verify.runbook_engine import loading, model, pairnow
from xcatha_verify.runbook_engine.executor import Executor, Options, RunDeclined, RunStopped
from xcatha_verify.runbook_engine.hoststore import HostStore
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.lock import LockInfo, LockLocation, RunLock, default_owner
from xcatha_verify.runbook_engine.report import (
    active_check_command,
    failback_command,
    resume_command,
    unplanned_command,
    write_run_report,
)
from xcatha_verify.runbook_engine.resume import completed_phases, latest_journal
from xcatha_verify.targets import ensure_reachable, this_host_name

log = logging.getLogger(__name__)

SEED_ADVICE = (
    "The xCAT procedure: if the primary management node became inaccessible before it was deactivated, "
    "disconnect it from the network before it reboots, so that the services it starts at boot cannot "
    "interfere with the services on the backup."
)


EXIT_STATUS = """exit status:
  0    done (a dry run: every gate that could be judged is green)
  1    stopped: a red gate, a failed step, the operator said no, a held lock (a dry run: a red gate)
  2    usage or inventory error, nothing was changed
  130  interrupted (Ctrl-C); the run can be resumed with --resume"""

COMMANDS: dict[str, tuple[str, str]] = {
    "deactivate": ("stop and disable the xCAT services on a node, disconnect the shared data, drop the VIP",
                   "xcatha-run deactivate --node xcatmn1\n  xcatha-run deactivate --node xcatmn1 --dry-run"),
    "activate": ("bring the VIP up on a node, connect the shared data, start PostgreSQL, xcatd and the services",
                 "xcatha-run activate --node xcatmn2\n  xcatha-run activate --node xcatmn2 --resume"),
    "failover": ("deactivate --from, then activate --to, every phase gated by the checks; --unplanned when the "
                 "--from node is down (it must be fenced first)",
                 "xcatha-run failover --from xcatmn1 --to xcatmn2\n"
                 "  xcatha-run failover --from xcatmn1 --to xcatmn2 --dry-run\n"
                 "  xcatha-run failover --to xcatmn2 --unplanned --fenced"),
    "failback": ("the way back to the node that was active before a failover stopped half-way: let go of what "
                 "either node holds, then activate --to",
                 "xcatha-run failback --to xcatmn1"),
    "prepare": ("the one-time set-up of a node pair for HA (pg_hba.conf, listen_addresses, mgtifname, /etc/hosts)",
                "xcatha-run prepare --node xcatmn1 --dry-run"),
}


def _common_options(parser: argparse.ArgumentParser, *, given_only: bool) -> None:
    """Options every runbook takes. On the commands (`given_only`) a default would overwrite what was
    given before the command's name (`xcatha-run --inventory X failover`), so there they have none."""
    def default(value: object) -> object:
        return argparse.SUPPRESS if given_only else value

    parser.add_argument("--inventory", default=default(DEFAULT_INVENTORY_PATH),
                        help=f"inventory file (default: {DEFAULT_INVENTORY_PATH})")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", default=default(False),
                        help="show every step's final command and judge the gates that can be; change nothing")
    parser.add_argument("--yes", action="store_true", default=default(False),
                        help="do not ask before each phase (automation)")
    parser.add_argument("--resume", action="store_true", default=default(False),
                        help="continue the last failed run of this runbook at its failed phase")
    parser.add_argument("--break-lock", action="store_true", default=default(False),
                        help="remove a lock left by another run first")
    parser.add_argument("--report-dir", default=default("reports"), help="where run reports go (default: ./reports)")
    parser.add_argument("--runbook-dir", action="append", default=default([]), help="site runbooks, searched first")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False), help="log every command")


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="xcatha-run",
        description="Gated runbooks for xCAT management-node HA: deactivate, activate, failover, failback and prepare.",
        epilog="`xcatha-run COMMAND --help` shows a command's options and examples.\n\n" + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_version(parser)
    _common_options(parser, given_only=False)
    sub = parser.add_subparsers(dest="runbook", required=True, metavar="COMMAND")
    commands = {}
    for name, (summary, examples) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=f"xcatha-run {name}: {summary}.",
                                 epilog=f"examples:\n  {examples}\n\n{EXIT_STATUS}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        # Every run's namespace has every key: the journal records them and the resume command reads them.
        command.set_defaults(node=None, from_node=None, to_node=None, unplanned=False, fenced=False)
        commands[name] = command
    for name in ("deactivate", "activate", "prepare"):
        commands[name].add_argument("--node", help="the node (default: this host, if the inventory names it)")
    failover = commands["failover"]
    failover.add_argument("--from", dest="from_node", help="the node giving up the role (planned failover)")
    failover.add_argument("--to", dest="to_node", required=True, help="the node taking the role")
    failover.add_argument("--unplanned", action="store_true", help="the --from node is down or unreachable")
    failover.add_argument("--fenced", action="store_true", help="with --unplanned: I have fenced the failed node")
    commands["failback"].add_argument("--to", dest="to_node", required=True, help="the node going back to active")
    for command in commands.values():
        _common_options(command, given_only=True)
    return parser


def _this_node(inventory: Inventory, name: str | None) -> Node:
    if name:
        return inventory.node(name)
    here = this_host_name()
    for node in inventory.nodes:
        if node.is_local or node.name == here:
            return node
    raise UsageError(f"this host ({here}) is not a node of {inventory.source}; name one with --node")


def plan(args: argparse.Namespace, inventory: Inventory) -> tuple[model.Runbook, list[Node]]:
    """The runbook to walk (rendered for the node it acts on; a failover for its target) and the nodes it touches.
    failover and failback always have --to (their parsers require it)."""
    if args.runbook in ("deactivate", "activate", "prepare"):
        node = _this_node(inventory, args.node)
        touched = [node, inventory.peer_of(node.name)] if args.runbook == "prepare" else [node]
        return loading.load_for(args.runbook, inventory, node, extra_dirs=args.runbook_dir), touched
    if args.runbook == "failback":
        target = inventory.node(args.to_node)
        runbook = loading.load_for("failback", inventory, target, extra_dirs=args.runbook_dir)
        return runbook, [target, inventory.peer_of(target.name)]
    target = inventory.node(args.to_node)
    source = inventory.node(args.from_node) if args.from_node else inventory.peer_of(target.name)
    if source.name == target.name:
        raise UsageError("failover --from and --to name the same node")
    runbook = loading.load_for("failover", inventory, target, unplanned=args.unplanned, extra_dirs=args.runbook_dir)
    return runbook, [target] if args.unplanned else [source, target]


def _require_fenced(args: argparse.Namespace, inventory: Inventory, failed: Node, interactive: bool) -> str:
    """Proof that the failed node is fenced before anything changes; returns how it was proven."""
    print(SEED_ADVICE)
    if inventory.fence_command:
        argv = [a.replace("{node}", failed.name) for a in inventory.fence_command]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        if proc.returncode != 0:
            raise RunStopped(f"fence command for {failed.name} failed (exit {proc.returncode}); nothing was changed")
        return f"fence command exit 0: {' '.join(argv)}"
    if args.fenced:
        return f"--fenced: the operator states {failed.name} is fenced"
    if interactive:
        typed = input(f"Type the name of the failed node ({failed.name}) to confirm it is fenced: ").strip()
        if typed == failed.name:
            return f"typed confirmation naming {failed.name}"
        raise RunDeclined(f"confirmation did not name {failed.name}; nothing was changed")
    raise UsageError(f"unplanned failover needs proof that {failed.name} is fenced: --fenced, a typed "
                     "confirmation, or fence_command in the inventory")  # fmt: skip


def _release_own(inventory: Inventory, run_ids: set[str]) -> None:
    """Remove lock files of these runs wherever they are now: the shared storage may have moved to the
    other node during the run, and a resumed run owns the locks of the run it continues."""
    for node in inventory.nodes:
        try:
            store = HostStore(ensure_reachable(inventory, node))
        except NodeUnreachable:
            continue
        for path in (NODE_LOCK, shared_lock_path(inventory.shared_data[0].path)):
            text = store.read(path)
            info = LockInfo.from_text(text) if text else None
            if info is not None and info.run_id in run_ids:
                store.remove(path)


def _clear_lock_of_ended_run(inventory: Inventory) -> None:
    """Remove a shared-storage lock left by a run that has ended, and say so.

    A deactivation unmounts the shared storage before its run ends, so its lock there outlives it and
    turns up on the node that connects the storage next. A run that ended released its node locks; one
    that was killed still holds them. So a storage lock whose run holds no node lock, with every node
    asked, is removed; with a node unreachable, nothing is (its run may hold a lock there).
    """
    hosts = {}
    for node in inventory.nodes:
        try:
            hosts[node.name] = ensure_reachable(inventory, node)
        except NodeUnreachable:
            return
    running = {info.run_id for host in hosts.values()
               if (text := HostStore(host).read(NODE_LOCK)) and (info := LockInfo.from_text(text))}  # fmt: skip
    shared = inventory.shared_data[0].path
    for name, host in hosts.items():
        if host.run("mountpoint -q %s", shared).rc != 0:
            continue
        store = HostStore(host)
        text = store.read(shared_lock_path(shared))
        info = LockInfo.from_text(text) if text else None
        if info is not None and info.run_id not in running:
            store.remove(shared_lock_path(shared))
            message = (f"removed the lock of run {info.run_id} ({info.runbook}, {info.owner}) from the shared storage "
                       f"on {name}: that run has ended (it holds no node lock)")  # fmt: skip
            log.info("%s", message)
            print(message)


def _locks(inventory: Inventory, nodes: list[Node], run_id: str, runbook: str, takes_over: list[str]) -> RunLock:
    """A lock on every reachable node of the run and on the shared storage (where it is mounted); the
    locks of the runs in `takes_over` (those this run resumes) become this run's."""
    locations = []
    for node in inventory.nodes:
        try:
            host = ensure_reachable(inventory, node)
        except NodeUnreachable:
            if node in nodes:
                raise
            continue
        store = HostStore(host)
        locations.append(LockLocation(NODE_LOCK, store, node.name))
        shared = inventory.shared_data[0].path
        if host.run("mountpoint -q %s", shared).rc == 0:
            locations.append(LockLocation(shared_lock_path(shared), store, f"shared storage via {node.name}"))
    return RunLock(locations, default_owner(), runbook, run_id, takes_over=takes_over)


def _run(args: argparse.Namespace) -> int:
    if args.runbook == "failover" and not (args.from_node or args.unplanned):
        raise UsageError("failover needs --from NODE (the node giving up the role), or --unplanned when it is down")
    if args.fenced and not args.unplanned:
        raise UsageError("--fenced goes with --unplanned: a planned failover deactivates --from itself")
    inventory = load_inventory(args.inventory)
    runbook, nodes = plan(args, inventory)  # unknown nodes are named before anything else is asked
    interactive = sys.stdin.isatty() and not args.yes and not args.dry_run
    if not interactive and not args.yes and not args.dry_run:
        raise UsageError("no terminal to ask on: add --yes to run without asking, or --dry-run to look first")
    skip: set[str] = set()
    chain: list[str] = []  # the runs this one continues, oldest first: a resume of a resume owns them all
    if args.resume:
        previous = latest_journal(args.report_dir, runbook.name, inventory.cluster)
        if previous is None:
            raise UsageError(f"nothing to resume: no failed or interrupted {runbook.name} run under {args.report_dir}")
        old = Journal.load(previous)
        skip = set(completed_phases(old))
        chain = [*old.resumed_from, old.run_id]
        print(f"resuming {old.run_id}: skipping the phases it completed: {', '.join(sorted(skip)) or 'none'}")
    if args.runbook in ("failover", "failback") and not args.unplanned and not args.dry_run:
        source = nodes[0]
        try:
            ensure_reachable(inventory, source)
        except NodeUnreachable as exc:
            raise UsageError(f"{exc}; for a failed primary use: xcatha-run failover --to {args.to_node} "
                             "--unplanned (after fencing it)") from None  # fmt: skip
    journal = Journal.create(
        args.report_dir, runbook.name, args={k: v for k, v in vars(args).items() if k != "verbose"},
        cluster=inventory.cluster, inventory=inventory.source, phases=[p.name for p in runbook.phases],
        resumed_from=chain,
    )  # fmt: skip
    run_dir = journal.run_dir
    assert run_dir is not None
    _log_to(run_dir / "run.log")
    print(f"{runbook.summary}\nrun: {run_dir}")
    status, message, failed_phase = "succeeded", "", None
    executor = Executor(runbook, inventory, journal, run_dir, Options(dry_run=args.dry_run, interactive=interactive))
    lock: RunLock | None = None
    previous_active = _previous_active(args, inventory)
    at_start: list[pairnow.NodeNow] | None = None
    try:
        if args.unplanned and not args.dry_run:
            failed = inventory.peer_of(args.to_node)
            journal.update(message=_require_fenced(args, inventory, failed, interactive))
        if not args.dry_run:
            _clear_lock_of_ended_run(inventory)
            lock = _locks(inventory, nodes, journal.run_id, runbook.name, takes_over=chain)
            if args.break_lock:
                for location, text in lock.break_lock().items():
                    print(f"broke lock {location}: {text.strip()}")
            lock.acquire()
            if args.runbook != "prepare":
                # What "nothing moved" is judged against; an unplanned run has no way back to compare for,
                # and asking its fenced node would only wait out ssh's timeout before the first phase.
                at_start = pairnow.observe(inventory) if previous_active else []
        executor.run(skip, resuming=bool(chain))
        status, exit_status = ("dry-run", 0) if args.dry_run else ("succeeded", 0)
        if executor.dry_run_red:
            message, exit_status = "red now: " + "; ".join(executor.dry_run_red), 1
    except KeyboardInterrupt:
        status, message, exit_status = "interrupted", "interrupted by Ctrl-C", 130
        failed_phase = executor.current_phase or _failed_phase(journal, runbook)
    except (RunStopped, RunDeclined, NodeUnreachable) as exc:
        status, message, exit_status = "failed", str(exc), 1
        failed_phase = executor.current_phase or _failed_phase(journal, runbook)
    except XcathaError as exc:
        status, message = "refused", str(exc)
        exit_status = exc.exit_status
    finally:
        if lock is not None and lock.held:
            lock.release()
            # Also what the resumed runs left where this run could not see it at its start (the shared
            # storage was unmounted everywhere when an interrupted deactivation had just disconnected it).
            _release_own(inventory, {journal.run_id, *chain})
    pair = None
    if status in ("failed", "interrupted") and at_start is not None:
        pair = _pair_now(journal, inventory, at_start, failed_phase, previous_active, resumed=bool(chain))
        journal.update(pair_now=pair.to_dict())
    journal.finish(status, message, failed_phase)  # type: ignore[arg-type]
    page = write_run_report(journal, run_dir)
    print(f"\n{status.upper()}" + (f": {message}" if message else ""), flush=True)
    if status == "refused":
        print(f"xcatha-run: error: {message}", file=sys.stderr)
    if pair is not None:
        print("\n".join(pair.lines()))
    elif status in ("failed", "interrupted"):
        print(f"resume after fixing: {resume_command(journal)}")
    print(f"run report: {page}")
    return exit_status


def _previous_active(args: argparse.Namespace, inventory: Inventory) -> str | None:
    """The node that was active before this run: where going back goes (None: fenced, or not a role change)."""
    if args.runbook == "failover":
        return None if args.unplanned else (args.from_node or inventory.peer_of(args.to_node).name)
    if args.runbook == "failback":
        return str(args.to_node)
    if args.runbook == "deactivate":
        return _this_node(inventory, args.node).name
    if args.runbook == "activate":
        return inventory.peer_of(_this_node(inventory, args.node).name).name
    return None


def _pair_now(
    journal: Journal, inventory: Inventory, at_start: list[pairnow.NodeNow], stopped_in: str | None,
    previous: str | None, resumed: bool,
) -> pairnow.PairNow:  # fmt: skip
    """The pair as the nodes say it is now, with the commands on from here."""
    nodes = pairnow.observe(inventory)
    pair = pairnow.PairNow(nodes, stopped_in, previous, continue_command=resume_command(journal))
    lost = [n.name for n in nodes if not n.reachable]
    if len(lost) == 1 and previous is not None:
        # The run cannot go back through a node it cannot reach (failback deactivates it first): continue
        # once it answers again, or take the role to the other node without it, after fencing it.
        other = inventory.peer_of(lost[0]).name
        pair.without_node, pair.without_command = lost[0], unplanned_command(journal, other)
        return pair
    if previous is None:
        fenced = inventory.peer_of(str(journal.args.get("to_node"))).name if journal.args.get("to_node") else ""
        pair.go_back_note = (f"no way back from here: {fenced or 'the other node'} was fenced; once it is "
                             "repaired, `xcatha-run failback --to NODE` brings the role back")  # fmt: skip
    elif not resumed and [n.state for n in nodes] == [n.state for n in at_start] and any(
            n.name == previous and n.serves_xcat for n in nodes):
        pair.go_back_note = (f"nothing moved since the run started: {previous} serves xCAT as before; confirm with: "
                             f"{active_check_command(journal, previous)}")  # fmt: skip
    else:
        # Also when nothing moved but no node serves (a failback that stopped where the failover did):
        # the way back is still the way out once the failed step's cause is mended.
        pair.go_back_command = failback_command(journal, previous)
    return pair


class _Masked(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _log_to(path: Path) -> None:
    """Every step and gate, timestamped, into the run's own log (secrets masked)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(_Masked(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("xcatha_verify")
    logger.addHandler(handler)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))


def _failed_phase(journal: Journal, runbook: model.Runbook) -> str | None:
    done = set(completed_phases(journal))
    return next((p.name for p in runbook.phases if p.name not in done), None)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_main("xcatha-run", lambda: _run(args))


if __name__ == "__main__":
    main()
