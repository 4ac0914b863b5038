"""xcatha-verify: run a phase's readiness checks against nodes, locally or over SSH, with reports.

Exit status: 0 every check passed, 1 a check failed, 2 usage or inventory error, 3 a node could
not be reached. drift: 0 also when a runbook run holds the run lock (failover in progress: not judged).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from xcatha_verify.checkkit import PHASE_SUMMARIES, PHASES, check_phase, checks_for, iter_checks
from xcatha_verify.cli.common import Parser, add_version, run_main, setup_logging
from xcatha_verify.drift import NodeOutcome, exit_status, record_in_progress, record_run
from xcatha_verify.drift.runlocks import survey_run_locks
from xcatha_verify.errors import EXIT_UNREACHABLE, UsageError
from xcatha_verify.files import new_run_dir
from xcatha_verify.inventory import DEFAULT_INVENTORY_PATH, Inventory, Node, load_inventory
from xcatha_verify.report.console import COLOR_CHOICES
from xcatha_verify.runner import FORMATS, RunResult, plan_runs, run_checks_in_parallel
from xcatha_verify.targets import this_host_name

EXIT_STATUS = """exit status:
  0  every check passed (drift: also while a failover holds the run lock: not judged, said so)
  1  a check failed, or was blocked by one that failed
  2  usage or inventory error
  3  a node could not be reached, or a check was blocked by an unreachable peer"""

EXAMPLES = {
    "": "xcatha-verify --node xcatmn2 pre-activate\n  xcatha-verify --all active\n"
        "  xcatha-verify --node xcatmn1 active --check pg.hba --check vip.present\n  xcatha-verify --list standby",
    "drift": "xcatha-verify drift\n  xcatha-verify drift --report-dir /var/lib/xcatha/drift --keep-days 90",
}
STEADY_PHASES = ("active", "standby")


def _parser() -> argparse.ArgumentParser:
    # Help by hand: `xcatha-verify PHASE --help` explains that phase, which argparse's -h cannot know.
    parser = Parser(prog="xcatha-verify", add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Readiness checks for xCAT management-node HA phases (pytest-testinfra, locally "
                    "or over SSH).", epilog=f"phases:\n{_phase_lines()}\n\nexamples:\n  {EXAMPLES['']}\n\n"
                    f"`xcatha-verify PHASE --help` lists a phase's checks.\n\n{EXIT_STATUS}")  # fmt: skip
    parser.add_argument("-h", "--help", action="store_true", help="this help; with a PHASE: that phase's checks")
    add_version(parser)
    parser.add_argument("phase", nargs="?", metavar="PHASE", help="phase whose checks run")
    parser.add_argument(
        # None when not given: --list then reads no file; load_inventory(None) reads the default.
        "--inventory", default=None, help=f"inventory file (default: {DEFAULT_INVENTORY_PATH})"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--node", help="node to check (default: this host, if the inventory names it)")
    target.add_argument("--all", action="store_true", help="check every node, in parallel (active and standby: "
                        "each node against its role, as drift does)")  # fmt: skip
    parser.add_argument("--report-dir", default="reports", help="where reports go (default: ./reports)")
    parser.add_argument(
        "--format", default="html,junit,json", help=f"report formats, comma-separated from {','.join(FORMATS)}"
    )
    parser.add_argument("--check", action="append", default=[], metavar="ID",
                        help="run only this check of the phase (repeatable); ids as --list prints them")  # fmt: skip
    parser.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression (ids match: pg.hba)")
    parser.add_argument(
        "--keep-days", type=int, default=30, help="drift: remove runs older than this many days (default 30)"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the checks of PHASE (or all) without touching any node"
    )
    parser.add_argument("--color", choices=COLOR_CHOICES, default="auto",
                        help="colour the console: auto (on a terminal, unless NO_COLOR is set), always, never")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command")
    return parser


def _phase_lines() -> str:
    return "\n".join(f"  {phase:16}{summary}" for phase, summary in PHASE_SUMMARIES.items())


def _phase_help(phase: str) -> str:
    """What `xcatha-verify PHASE --help` prints: the phase, its checks, its options, examples, exit status."""
    checks = "\n".join(f"  {info.id:28} {info.summary}" for info in checks_for(phase))
    if phase == "drift":
        usage = "xcatha-verify [--inventory FILE] drift [--report-dir DIR] [--keep-days N] [--format F] [-k EXPR]"
        how = ("Each node is checked against its role (the VIP holder, with the shared data if both hold it, as "
               "active), the pair checks once;\nthe run is kept in DIR's history (index.html, latest.json, "
               "xcatha_drift.prom) and runs older than --keep-days are removed.\nBelow: the pair checks and those of "
               "both roles; `xcatha-verify active --help` and `standby --help` list each role's.")  # fmt: skip
        examples = EXAMPLES["drift"]
    else:
        usage = (f"xcatha-verify [--inventory FILE] [--node NAME | --all] {phase} [--check ID ...] [-k EXPR] "
                 "[--report-dir DIR] [--format F]")  # fmt: skip
        how = ("--all checks each node against its role (as drift does, without the history)."
               if phase in STEADY_PHASES else "--all checks every node in this phase.")  # fmt: skip
        examples = f"xcatha-verify --node xcatmn2 {phase}\n  xcatha-verify --node xcatmn2 {phase} --check ID"
    return (f"usage: {usage}\n\n{phase}: {PHASE_SUMMARIES[phase]}.\n{how}\n\nchecks:\n{checks}\n\n"
            f"examples:\n  {examples}\n\n{EXIT_STATUS}")  # fmt: skip


def _chosen_checks(ids: list[str], phase: str) -> tuple[str, ...]:
    """--check ids, each a check of the phase (one-line error with a did-you-mean otherwise)."""
    if not ids:
        return ()
    if phase == "drift":
        raise UsageError("--check goes with a phase; drift judges the whole pair (use -k to narrow it)")
    known = {info.id: info for info in iter_checks()}
    in_phase = [info.id for info in checks_for(phase)]
    for check_id in ids:
        if check_id not in known:
            close = difflib.get_close_matches(check_id, list(known), n=1)
            raise UsageError(f"--check {check_id}: no such check" + (f"; did you mean {close[0]}?" if close else
                             "; xcatha-verify --list shows them"))  # fmt: skip
        if check_id not in in_phase:
            raise UsageError(f"--check {check_id}: not a check of {phase} (its phases: "
                             f"{', '.join(known[check_id].phases)})")  # fmt: skip
    return tuple(dict.fromkeys(ids))


def _list(phase: str | None) -> int:
    for info in checks_for(phase) if phase else iter_checks():
        kind = "pair" if info.pair else "node"
        print(f"{info.id:28} {kind:5} {','.join(info.phases):70} {info.summary}")
    return 0


def _nodes(inventory: Inventory, args: argparse.Namespace, phase: str) -> list[Node]:
    if args.all or phase == "drift":
        return list(inventory.nodes)
    if args.node:
        return [inventory.node(args.node)]
    here = this_host_name()
    for node in inventory.nodes:
        if node.is_local or node.name == here:
            return [node]
    raise UsageError(f"this host ({here}) is not a node of {inventory.source}; name one with --node or use --all")


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise UsageError(f"--format {text!r}: expected a comma-separated list of {', '.join(FORMATS)}")
    return chosen


def _run(args: argparse.Namespace) -> int:
    if args.help:
        print(_phase_help(check_phase(args.phase)) if args.phase else _parser().format_help().rstrip("\n"))
        return 0
    if args.list:
        if args.inventory is not None:  # named, so it is meant to be right: refuse a bad one before listing
            load_inventory(args.inventory)
        return _list(check_phase(args.phase) if args.phase else None)
    if not args.phase:
        raise UsageError(f"a PHASE is required ({', '.join(PHASES)})")
    phase = check_phase(args.phase)
    formats = _formats(args.format)
    only = _chosen_checks(args.check, phase)
    inventory = load_inventory(args.inventory)
    if phase == "drift":
        return _drift(args, inventory, formats)
    if args.all and phase in STEADY_PHASES:
        if only:
            raise UsageError(f"--check with --all {phase}: each node is checked against its own role; "
                             "name the node with --node")  # fmt: skip
        # The steady states are roles: both nodes cannot be active, so each is checked as what it is.
        runs = plan_runs(inventory, list(inventory.nodes), "drift")
        print(f"--all {phase}: each node against its role, as drift does (no history kept): "
              + ", ".join(f"{r.node.name} {r.role}" for r in runs))  # fmt: skip
    else:
        runs = [replace(r, only=only) for r in plan_runs(inventory, _nodes(inventory, args, phase), phase)]
    results = run_checks_in_parallel(inventory, runs, Path(args.report_dir), formats, args.keyword, args.color)
    _print_reports(results)
    statuses = {r.summary.exit_status for r in results}
    return EXIT_UNREACHABLE if EXIT_UNREACHABLE in statuses else max(statuses, default=0)


def _print_reports(results: list[RunResult]) -> None:
    for result in results:
        for path in result.reports:
            print(f"report: {path}")


_DRIFT_WORDS = {"green": "green, no drift", "drift": "DRIFT found", "unreachable": "NODE UNREACHABLE, not all judged"}


def _drift(args: argparse.Namespace, inventory: Inventory, formats: tuple[str, ...]) -> int:
    """Every node against its role, recorded in the history; not judged while a runbook holds the run lock.

    The locks are read before the checks (a failover under way: the checks would see a pair half-way
    through) and again after them (a runbook that started meanwhile changed what they saw).
    """
    if args.keep_days < 0:
        raise UsageError("--keep-days: expected a number of days, 0 or more")
    report_root = Path(args.report_dir)
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    survey = survey_run_locks(inventory)
    run_dir = new_run_dir(report_root, inventory.cluster)
    results: list[RunResult] = []
    if survey.holder is None:
        runs = plan_runs(inventory, list(inventory.nodes), "drift")
        results = run_checks_in_parallel(inventory, runs, run_dir, formats, args.keyword, args.color)
        _print_reports(results)
        after = survey_run_locks(inventory)
        survey = after if after.holder is not None else survey
    if survey.stale_note():
        print(f"drift: {survey.stale_note()}")
    holder = survey.holder
    if holder is not None:
        nodes = {node.name: survey.unreachable.get(node.name, "") for node in inventory.nodes}
        run = record_in_progress(report_root, run_dir, inventory.cluster, started_at, holder.info,
                                 survey.places_of(holder.info.run_id), nodes, keep_days=args.keep_days)  # fmt: skip
        print(f"drift: {run.note}; history: {report_root / 'index.html'}")
    else:
        run = record_run(report_root, run_dir, inventory.cluster, started_at,
                         [NodeOutcome.from_run_result(r) for r in results], keep_days=args.keep_days,
                         note=survey.stale_note())  # fmt: skip
        print(f"drift: {_DRIFT_WORDS.get(run.verdict, run.verdict)}; history: {report_root / 'index.html'}")
    return exit_status(run)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    run_main("xcatha-verify", lambda: _run(args))


if __name__ == "__main__":
    main()
    sys.exit(0)
