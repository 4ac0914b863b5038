"""Running a phase's checks on nodes: one pytest process per node, in parallel, each with its reports.

Used by xcatha-verify, by the runbook gates and by drift reports. A node that cannot be reached
gives status 3 and a message naming it, never a silent pass.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xcatha_verify.checkkit import checks_dir, iter_checks
from xcatha_verify.errors import NodeUnreachable, UsageError
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.plugin import selected
from xcatha_verify.targets import ensure_reachable, hostspec

FORMATS = ("html", "junit", "json")
_print_lock = threading.Lock()
_pytest_lock = threading.Lock()  # pytest.main is not re-entrant


@dataclass(frozen=True)
class NodeRun:
    node: Node
    phase: str
    role: str | None = None  # drift: the node's role, chosen by who holds the VIP
    with_pair: bool = False  # drift: this run also runs the pair checks
    only: tuple[str, ...] = ()  # these check ids instead of the phase's (a runbook gate)
    exclude: tuple[str, ...] = ()


@dataclass
class RunResult:
    run: NodeRun
    status: int  # 0 passed, 1 failed, 3 unreachable
    reports: list[Path] = field(default_factory=list)
    output: str = ""
    json_path: Path | None = None


def plan_runs(inventory: Inventory, nodes: list[Node], phase: str) -> list[NodeRun]:
    """One run per node; for drift each node is checked against its role.

    The active node is the VIP holder; when several hold it (split brain), the one with the shared
    data connected, so the other is checked as the standby it should be and its VIP reported.
    """
    if phase != "drift":
        return [NodeRun(n, phase) for n in nodes]
    evidence: dict[str, tuple[bool, bool]] = {}
    for node in nodes:
        try:
            facts = NodeFacts(ensure_reachable(inventory, node), node, inventory)
        except NodeUnreachable:
            continue
        first_shared = inventory.shared_data[0]
        connected = first_shared.path in facts.mounts if first_shared.mode == "mount" else False
        evidence[node.name] = (facts.holds_vip, connected)
    ranked = sorted(evidence, key=lambda name: evidence[name], reverse=True)
    active = ranked[0] if ranked and evidence[ranked[0]][0] else None
    pair_runner = active or (ranked[0] if ranked else nodes[0].name)
    return [
        NodeRun(n, "drift", role="active" if n.name == active else "standby", with_pair=n.name == pair_runner)
        for n in nodes
    ]


def report_base(report_dir: str | os.PathLike[str], inventory: Inventory, run: NodeRun, stamp: str) -> Path:
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    label = run.phase if run.role is None else f"{run.phase}-{run.role}"
    return directory / f"{stamp}-{inventory.cluster}-{run.node.name}-{label}"


# pytest's plugins that checks never use: leaving them out saves a third of a small gate's time.
UNUSED_PLUGINS = ("cacheprovider", "warnings", "unraisableexception", "threadexception", "faulthandler", "doctest",
                  "pastebin", "stepwise", "setuponly", "setupplan", "legacypath", "tmpdir", "monkeypatch", "recwarn",
                  "debugging", "xdist")  # fmt: skip


def check_paths(run: NodeRun) -> list[str]:
    """What pytest collects: the modules holding a check the run selects (by the plugin's own rule), or all."""
    wanted = {
        c.module for c in iter_checks()
        if c.id not in run.exclude
        and (c.id in run.only if run.only else selected(c.phases, c.pair, run.phase, run.role, run.with_pair))
    }  # fmt: skip
    if not wanted:
        return [checks_dir()]  # pytest then says that nothing matched
    return sorted(str(Path(checks_dir()) / f"{module.rsplit('.', 1)[1]}.py") for module in wanted)


def pytest_argv(
    inventory: Inventory, run: NodeRun, base: Path, formats: tuple[str, ...], keyword: str | None
) -> list[str]:
    argv = [
        sys.executable, "-m", "pytest", *check_paths(run), "--rootdir", checks_dir(), "-c", os.devnull,
        "-p", "xcatha_verify.plugin", "-p", "xcatha_verify.report.plugin",
        *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
        f"--hosts={hostspec(run.node)}", f"--xcatha-inventory={inventory.source}", f"--xcatha-node={run.node.name}",
        f"--xcatha-phase={run.phase}", "--xcatha-console", "-qq", "--no-header", "--no-summary", "--tb=short",
        "--color=no",
    ]  # fmt: skip
    if run.role:
        argv.append(f"--xcatha-role={run.role}")
    if run.with_pair:
        argv.append("--xcatha-pair")
    if run.only:
        argv.append(f"--xcatha-only={','.join(run.only)}")
    if run.exclude:
        argv.append(f"--xcatha-exclude={','.join(run.exclude)}")
    if inventory.ssh_config:
        argv.append(f"--ssh-config={inventory.ssh_config}")
    if "html" in formats:
        argv += [f"--html={base}.html", "--self-contained-html"]
    if "junit" in formats:
        argv.append(f"--junitxml={base}.xml")
    if "json" in formats:
        argv.append(f"--xcatha-json={base}.json")
    if keyword:
        argv += ["-k", keyword]
    return argv


def run_checks(
    inventory: Inventory,
    run: NodeRun,
    report_dir: str | os.PathLike[str],
    formats: tuple[str, ...] = FORMATS,
    keyword: str | None = None,
    *,
    echo: bool = True,
    in_process: bool = False,
) -> RunResult:
    """Run one node's checks; print its console block (one line per check) when done.

    `in_process` runs pytest inside this process (runbook gates: imports and SSH connections stay
    warm between gates); otherwise a pytest process per node, so nodes run in parallel.
    """
    header = f"== {inventory.cluster} {run.node.name} ({hostspec(run.node)}): {run.phase}" + (
        f" as {run.role}" if run.role else ""
    )
    try:
        ensure_reachable(inventory, run.node)
    except NodeUnreachable as exc:
        result = RunResult(run, 3, output=f"{header}\nUNREACHABLE  {exc}\n")
        _emit(result.output, echo)
        return result
    base = report_base(report_dir, inventory, run, time.strftime("%Y%m%dT%H%M%S"))
    argv = pytest_argv(inventory, run, base, formats, keyword)
    if in_process:
        proc = _pytest_in_process(argv[3:])
    else:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode == 5:
        raise UsageError(f"no check matched phase {run.phase}" + (f" and -k {keyword}" if keyword else ""))
    if proc.returncode not in (0, 1):
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise UsageError(f"checks could not run on {run.node.name}: {detail[-1] if detail else proc.returncode}")
    reports = [Path(f"{base}{ext}") for fmt, ext in (("html", ".html"), ("junit", ".xml"), ("json", ".json"))
               if fmt in formats]  # fmt: skip
    result = RunResult(
        run, proc.returncode, [p for p in reports if p.exists()], f"{header}\n{proc.stdout}",
        Path(f"{base}.json") if "json" in formats else None,
    )  # fmt: skip
    _emit(result.output, echo)
    return result


# What the first in-process run would otherwise import while the operator waits on a gate.
_WARM_MODULES = (
    "testinfra.plugin", "pytest_metadata.plugin", "pytest_html.plugin", "pytest_html.fixtures",
    "xcatha_verify.plugin", "xcatha_verify.report.plugin", "_pytest.python", "_pytest.junitxml",
)  # fmt: skip


def warm_up_in_background() -> None:
    """Import what in-process check runs need on a thread of its own, while a runbook's first steps run.

    Only imports: nothing that prints or swaps sys.stdout, so the run's own output is untouched.
    """

    def work() -> None:
        for name in _WARM_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        list(iter_checks())

    threading.Thread(target=work, name="xcatha-warm-up", daemon=True).start()


def _pytest_in_process(args: list[str]) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with _pytest_lock, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = int(pytest.main(args))
    if status == pytest.ExitCode.INTERRUPTED:  # pytest caught our Ctrl-C: pass it on
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def _emit(text: str, echo: bool) -> None:
    if echo:
        with _print_lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
