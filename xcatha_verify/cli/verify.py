"""xcatha-verify: run a phase's readiness checks against a node, locally or over SSH, with reports.

Exit status: 0 every check passed, 1 a check failed, 2 usage or inventory error, 3 a node could
not be reached.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

from xcatha_verify.checkkit import PHASES, check_phase, checks_dir, checks_for, iter_checks
from xcatha_verify.cli.common import run_main, setup_logging
from xcatha_verify.errors import NodeUnreachable, UsageError
from xcatha_verify.inventory import DEFAULT_INVENTORY_PATH, Inventory, Node, load_inventory

DEFAULT_REPORT_DIR = "reports"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xcatha-verify",
        description="Readiness checks for xCAT management-node HA phases (pytest-testinfra, locally or over SSH).",
        epilog=f"phases: {', '.join(PHASES)}",
    )
    parser.add_argument("phase", nargs="?", help="phase whose checks run")
    parser.add_argument(
        "--inventory", default=DEFAULT_INVENTORY_PATH, help=f"inventory file (default: {DEFAULT_INVENTORY_PATH})"
    )
    parser.add_argument("--node", help="node to check (default: this host, if the inventory names it)")
    parser.add_argument("--report-dir", default=DEFAULT_REPORT_DIR, help="where reports go (default: ./reports)")
    parser.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    parser.add_argument(
        "--list", action="store_true", help="list the checks of PHASE (or all) without touching any node"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command")
    return parser


def _list(phase: str | None) -> int:
    for info in checks_for(phase) if phase else iter_checks():
        print(f"{info.id:30} {phase or ','.join(info.phases):20} {info.summary}")
    return 0


def _resolve_node(inventory: Inventory, name: str | None) -> Node:
    if name:
        return inventory.node(name)
    here = socket.gethostname().split(".")[0]
    for node in inventory.nodes:
        if node.is_local or node.name == here:
            return node
    raise UsageError(f"this host ({here}) is not a node of {inventory.source}; name one with --node")


def hostspec(inventory: Inventory, node: Node) -> str:
    """testinfra's backend URI for a node: local when the node is this host, ssh otherwise."""
    if node.is_local or node.name == socket.gethostname().split(".")[0]:
        return "local://"
    return node.target


def _reachable(inventory: Inventory, node: Node, spec: str) -> None:
    if spec == "local://":
        return
    import testinfra

    host = testinfra.get_host(spec, ssh_config=inventory.ssh_config)
    try:
        host.run("true")
    except RuntimeError as exc:
        detail = str(getattr(exc.args[0], "stderr", exc)).strip().splitlines() if exc.args else []
        raise NodeUnreachable(
            f"{node.name} ({spec}) cannot be reached over ssh: {detail[-1] if detail else exc}"
        ) from None


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(check_phase(args.phase) if args.phase else None)
    if not args.phase:
        raise UsageError(f"a PHASE is required ({', '.join(PHASES)})")
    phase = check_phase(args.phase)
    inventory = load_inventory(args.inventory)
    node = _resolve_node(inventory, args.node)
    spec = hostspec(inventory, node)
    _reachable(inventory, node, spec)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    base = report_dir / f"{stamp}-{inventory.cluster}-{node.name}-{phase}"
    argv = [
        sys.executable, "-m", "pytest", checks_dir(), "-p", "xcatha_verify.plugin",
        "--rootdir", checks_dir(), "-c", "/dev/null", "-p", "no:cacheprovider",
        f"--hosts={spec}", f"--xcatha-inventory={inventory.source}", f"--xcatha-node={node.name}",
        f"--xcatha-phase={phase}", "-rfE", "--tb=line", "-q", "--color=no",
        f"--html={base}.html", "--self-contained-html", f"--junitxml={base}.xml",
    ]  # fmt: skip
    if inventory.ssh_config:
        argv.append(f"--ssh-config={inventory.ssh_config}")
    if args.keyword:
        argv += ["-k", args.keyword]
    print(f"{inventory.cluster}: {phase} checks on {node.name} ({spec})", flush=True)
    status = subprocess.run(argv, check=False).returncode
    print(f"report: {base}.html")
    if status == 5:
        raise UsageError(f"no check matched phase {phase}" + (f" and -k {args.keyword}" if args.keyword else ""))
    return 0 if status == 0 else 1


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    run_main("xcatha-verify", lambda: _run(args))


if __name__ == "__main__":
    main()
