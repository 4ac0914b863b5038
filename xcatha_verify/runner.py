"""Running a phase's checks on nodes: one pytest run per node, in parallel (forked) or in process (gates).

Used by xcatha-verify, by the runbook gates and by drift reports. Every run ends in a RunResult
holding the run's RunSummary; a node that cannot be reached gives a summary with no result and the
reason (`unreachable`), never a silent pass. The forked child itself is forkrun.py's.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xcatha_verify.checkkit import CHECK_PREFIX, checks_dir, iter_checks, selected
from xcatha_verify.errors import NodeUnreachable, UsageError, without_command_dump
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.forkrun import Child
from xcatha_verify.inventory import Inventory, Node
from xcatha_verify.report.console import paint, recap_lines, use_color
from xcatha_verify.report.recorder import SUMMARY
from xcatha_verify.report.records import RunSummary, SummaryUnreadable
from xcatha_verify.targets import ensure_reachable, forget_answer, give_up_on, hostspec

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
    unreachable: str = ""  # drift: why planning could not reach the node (it is not asked again)


@dataclass
class RunResult:
    """One node's run: its summary (the record every output is made from), its report files and its
    console block. An unreachable node has a summary too: no result, and `unreachable` saying why."""

    run: NodeRun
    summary: RunSummary
    reports: list[Path] = field(default_factory=list)
    output: str = ""

    @property
    def unreachable(self) -> str:
        return self.summary.unreachable


def plan_runs(inventory: Inventory, nodes: list[Node], phase: str) -> list[NodeRun]:
    """One run per node; for drift each node is checked against its role.

    The active node is the VIP holder; when several hold it (split brain), the one with the shared
    data connected, so the other is checked as the standby it should be and its VIP reported.
    """
    if phase != "drift":
        return [NodeRun(n, phase) for n in nodes]
    evidence: dict[str, tuple[bool, bool]] = {}
    unreachable: dict[str, str] = {}
    for node in nodes:
        try:
            facts = NodeFacts(ensure_reachable(inventory, node), node, inventory)
        except NodeUnreachable as exc:
            unreachable[node.name] = str(exc)
            give_up_on(inventory, node, str(exc))  # the peer's pair checks do not wait for it again
            continue
        first_shared = inventory.shared_data[0]
        connected = first_shared.path in facts.mounts if first_shared.mode == "mount" else False
        evidence[node.name] = (facts.holds_vip, connected)
    ranked = sorted(evidence, key=lambda name: evidence[name], reverse=True)
    active = ranked[0] if ranked and evidence[ranked[0]][0] else None
    pair_runner = active or (ranked[0] if ranked else nodes[0].name)
    return [
        NodeRun(n, "drift", role="active" if n.name == active else "standby", with_pair=n.name == pair_runner,
                unreachable=unreachable.get(n.name, ""))
        for n in nodes
    ]  # fmt: skip


REPORT_EXTENSIONS = (".json", ".html", ".xml")


def report_base(report_dir: str | os.PathLike[str], inventory: Inventory, run: NodeRun, stamp: str) -> Path:
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    label = run.phase if run.role is None else f"{run.phase}-{run.role}"
    base = directory / f"{stamp}-{inventory.cluster}-{run.node.name}-{label}"
    # Two gates of one phase can end in the same second: the second one's reports get "-2", never replace.
    candidate, count = base, 1
    while any(candidate.with_name(candidate.name + ext).exists() for ext in REPORT_EXTENSIONS):
        count += 1
        candidate = base.with_name(f"{base.name}-{count}")
    return candidate


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
    inventory: Inventory, run: NodeRun, base: Path, formats: tuple[str, ...], keyword: str | None,
    summary_json: Path | None = None, color: bool = False,
) -> list[str]:  # fmt: skip
    """pytest's command line for one run; the JSON summary goes to `summary_json` when given (a
    forked run always writes one: it is how the child hands its results over). `color` is the
    caller's decision: the run itself writes to a file or a buffer and cannot tell a terminal."""
    argv = [
        sys.executable, "-m", "pytest", *check_paths(run), "--rootdir", checks_dir(), "-c", os.devnull,
        "-o", f"python_functions={CHECK_PREFIX}*",
        "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder",
        *(arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
        f"--hosts={hostspec(run.node)}", f"--xcatha-inventory={inventory.source}", f"--xcatha-node={run.node.name}",
        f"--xcatha-phase={run.phase}", "--xcatha-console", "-qq", "--no-header", "--no-summary", "--tb=short",
        f"--color={'yes' if color else 'no'}",
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
    if summary_json is not None or "json" in formats:
        argv.append(f"--xcatha-json={summary_json or f'{base}.json'}")
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
) -> RunResult:
    """Run one node's checks inside this process; print its console block (one line per check) when done.

    For runbook gates: imports and SSH connections stay warm from one gate to the next, and the
    summary comes straight from the recorder, not back from a file.
    """
    base = report_base(report_dir, inventory, run, time.strftime("%Y%m%dT%H%M%S"))
    try:
        ensure_reachable(inventory, run.node)
    except NodeUnreachable as exc:
        return _unreachable(inventory, run, str(exc), base, formats, echo)
    keeper = _SummaryKeeper()
    proc = _pytest_in_process(pytest_argv(inventory, run, base, formats, keyword)[3:], keeper)
    _refuse_failed_run(run, keyword, proc)
    summary = keeper.summary or _summary_lost(inventory, run, "the recorder left no summary")
    return _result(inventory, run, base, formats, summary, proc.stdout, echo)


def run_checks_in_parallel(
    inventory: Inventory,
    runs: list[NodeRun],
    report_dir: str | os.PathLike[str],
    formats: tuple[str, ...] = FORMATS,
    keyword: str | None = None,
    color: str = "never",
) -> list[RunResult]:
    """Every run at once, each in a child forked from this process; results in the order of `runs`,
    each node's console block printed as soon as its run ends, then a recap of what failed.

    `color` is ``auto``, ``always`` or ``never``; ``auto`` is decided here, from this process's stdout
    (the children's goes to files), and handed to each run.

    Forking (not a new interpreter per node) spares every node an interpreter's start and pytest's
    imports, made once here first: about a quarter second of each node's run. The children are
    forked from this one thread before any other thread of this module exists, and each checks
    its node's reachability itself, so a node that does not answer delays no other (one that
    planning found unreachable, `NodeRun.unreachable`, is not asked again: no second connection
    timeout). A child hands its results over as the JSON summary it writes (`RunSummary.load`).
    """
    import_for_checks()
    colored = use_color(color)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    children: dict[int, Child] = {}
    order: list[int | RunResult] = []  # per run: its child's pid, or its result when no child was needed
    with tempfile.TemporaryDirectory(prefix="xcatha-run-") as handover:
        for index, run in enumerate(runs):
            base = report_base(report_dir, inventory, run, stamp)
            if run.unreachable:
                order.append(_unreachable(inventory, run, run.unreachable, base, formats, True, colored))
                continue
            summary_json = Path(f"{base}.json") if "json" in formats else Path(handover) / f"{index}.json"
            argv = pytest_argv(inventory, run, base, formats, keyword, summary_json, colored)[3:]
            child = Child.fork(inventory, run, argv, base, summary_json)
            children[child.pid] = child
            order.append(child.pid)
        results: dict[int, RunResult] = {}
        try:
            while len(results) < len(children):
                ready, _, _ = select.select([c.pidfd for c in children.values() if c.pid not in results], [], [])
                for child in children.values():
                    if child.pidfd in ready:
                        results[child.pid] = _collected(inventory, child, formats, keyword, colored)
        finally:
            for child in children.values():
                child.close()
    ordered = [results[item] if isinstance(item, int) else item for item in order]
    recap = recap_lines([r.summary for r in ordered], colored)
    if recap:
        _emit("\n".join(recap), True)
    return ordered


def _collected(
    inventory: Inventory, child: Child, formats: tuple[str, ...], keyword: str | None, color: bool
) -> RunResult:
    outcome = child.collect()
    if outcome.unreachable:
        return _unreachable(inventory, child.run, outcome.unreachable, child.base, formats, True, color)
    if outcome.proc.returncode not in (0, 1, 5):
        # pytest could not finish: a node lost during the run is that, not a usage error.
        forget_answer(inventory, child.run.node)
        try:
            ensure_reachable(inventory, child.run.node)
        except NodeUnreachable as exc:
            return _unreachable(inventory, child.run, str(exc), child.base, formats, True, color)
    _refuse_failed_run(child.run, keyword, outcome.proc)
    try:
        summary = RunSummary.load(child.summary_json)
    except SummaryUnreadable as exc:
        summary = _summary_lost(inventory, child.run, str(exc))
    return _result(inventory, child.run, child.base, formats, summary, outcome.proc.stdout, True, color)


class _SummaryKeeper:
    """A plugin object for an in-process run: keeps the session's config, whose stash holds the summary."""

    def __init__(self) -> None:
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    @property
    def summary(self) -> RunSummary | None:
        return self.config.stash.get(SUMMARY, None) if self.config is not None else None


def _header(inventory: Inventory, run: NodeRun, color: bool = False) -> str:
    text = f"== {inventory.cluster} {run.node.name} ({hostspec(run.node)}): {run.phase}"
    return paint(text + (f" as {run.role}" if run.role else ""), "bold", color)


def _unreachable(
    inventory: Inventory, run: NodeRun, why: str, base: Path, formats: tuple[str, ...], echo: bool,
    color: bool = False,
) -> RunResult:  # fmt: skip
    """The result of a node that could not be reached; its JSON summary says why (no other report)."""
    summary = RunSummary.standing_in(run.node.name, run.phase, cluster=inventory.cluster,
                                     inventory=inventory.source, unreachable=why)  # fmt: skip
    reports = []
    if "json" in formats:
        summary.write_json(f"{base}.json")
        reports.append(Path(f"{base}.json"))
    block = f"{_header(inventory, run, color)}\n{paint('UNREACHABLE', 'bad', color)}  {why}\n"
    result = RunResult(run, summary, reports, block)
    _emit(result.output, echo)
    return result


def _summary_lost(inventory: Inventory, run: NodeRun, why: str) -> RunSummary:
    return RunSummary.standing_in(run.node.name, run.phase, cluster=inventory.cluster, inventory=inventory.source,
                                  lost=why)  # fmt: skip


def _refuse_failed_run(run: NodeRun, keyword: str | None, proc: subprocess.CompletedProcess[str]) -> None:
    """pytest found nothing to run (exit 5) or could not run at all: the operator's to fix, not a verdict."""
    if proc.returncode == 5:
        raise UsageError(f"no check matched phase {run.phase}" + (f" and -k {keyword}" if keyword else ""))
    if proc.returncode not in (0, 1):
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        why = without_command_dump(detail[-1]) if detail else str(proc.returncode)
        raise UsageError(f"checks could not run on {run.node.name}: {why}")


def _result(
    inventory: Inventory, run: NodeRun, base: Path, formats: tuple[str, ...], summary: RunSummary, console: str,
    echo: bool, color: bool = False,
) -> RunResult:  # fmt: skip
    reports = [Path(f"{base}{ext}") for fmt, ext in (("html", ".html"), ("junit", ".xml"), ("json", ".json"))
               if fmt in formats]  # fmt: skip
    # pytest's closing blank line goes: the recap and the report lines follow the last block directly.
    block = f"{_header(inventory, run, color)}\n{console.rstrip()}\n"
    result = RunResult(run, summary, [p for p in reports if p.exists()], block)
    _emit(result.output, echo)
    return result


# What the first in-process run would otherwise import while the operator waits on a gate.
_WARM_MODULES = (
    "testinfra.plugin", "pytest_metadata.plugin", "pytest_html.plugin", "pytest_html.fixtures",
    "xcatha_verify.pytest_checks", "xcatha_verify.report.recorder", "_pytest.python", "_pytest.junitxml",
)  # fmt: skip


def warm_up_in_background() -> None:
    """Import what in-process check runs need on a thread of its own, while a runbook's first steps run.

    Only imports: nothing that prints or swaps sys.stdout, so the run's own output is untouched.
    """

    threading.Thread(target=import_for_checks, name="xcatha-warm-up", daemon=True).start()


def import_for_checks() -> None:
    """Import what a check run needs (pytest's plugins, the checks); before forking, once for every child."""
    for name in _WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    list(iter_checks())


def _pytest_in_process(args: list[str], keeper: _SummaryKeeper) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    with _pytest_lock, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = int(pytest.main(args, plugins=[keeper]))
    if status == pytest.ExitCode.INTERRUPTED:  # pytest caught our Ctrl-C: pass it on
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def _emit(text: str, echo: bool) -> None:
    if echo:
        with _print_lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
