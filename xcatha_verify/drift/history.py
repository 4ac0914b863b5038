"""Drift history: one record per drift run, what changed since the previous one, and the files monitors read.

A drift run checks every node against its role and leaves one directory under the report root, holding
each node's reports (HTML, JUnit XML, JSON summary, ``docs/report-schema.md``). :func:`record_run` turns
those per-node summaries into one :class:`DriftRun`, then, holding ``REPORT_ROOT/.drift.lock``
(``fcntl.flock``), updates the history::

    REPORT_ROOT/
      .drift.lock             the lock; never removed
      index.html              every run, newest first, with what changed since the run before it
      latest.json             the newest run's record
      xcatha.prom             Prometheus textfile for node_exporter's textfile collector
      RUN_ID/run.json         one run's record (the same document as latest.json was for it)
      RUN_ID/<stamp>-<cluster>-<node>-drift-<role>.{html,xml,json}

Every file is written to a temporary file in its directory and renamed over the old one, so a reader
never sees half a file, and the lock keeps two concurrent runs from overwriting each other's view of
the history. The records follow ``docs/drift-schema.md`` (schema version "1").

What changed is kept in each run's record: a check failing now and not failing in the run before is
*newly failing*; failing in both is *still failing* with the time its failing streak began (carried
from record to record, so it survives retention); failing before and not now is *resolved*; failing
before on a node that could not be reached now is *not checked*, and keeps its streak. Runs are
ordered by ``started_at``; a run recorded after a later-started one (two runs at once) is slotted in
and the records after it are recomputed.

Only the CLI turns the outcome into an exit status: :func:`exit_status`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from xcatha_verify import __version__
from xcatha_verify.errors import EXIT_FAILED, EXIT_UNREACHABLE, UsageError
from xcatha_verify.files import write_atomic
from xcatha_verify.report import redact
from xcatha_verify.report.records import SUMMARY_CHECK, CheckResult, RunSummary, SummaryUnreadable

if TYPE_CHECKING:
    from xcatha_verify.runner import RunResult

__all__ = [
    "DEFAULT_KEEP_DAYS", "INDEX_NAME", "LATEST_NAME", "LOCK_NAME", "PROM_NAME", "RUN_NAME", "SCHEMA_VERSION",
    "SUMMARY_CHECK", "DriftRun", "NodeOutcome", "apply_retention", "build_run", "diff_runs", "exit_status",
    "load_runs", "record_run", "render_index", "render_prometheus",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
DEFAULT_KEEP_DAYS = 30
RUN_NAME = "run.json"
INDEX_NAME = "index.html"
LATEST_NAME = "latest.json"
PROM_NAME = "xcatha.prom"
LOCK_NAME = ".drift.lock"
FAILING = ("failed", "error")
LINE_WIDTH = 500
_REPORT_KINDS = (("html", ".html"), ("junit", ".xml"), ("json", ".json"))
_CHANGE_LISTS = ("newly_failing", "resolved", "still_failing", "not_checked")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("xcatha_verify.drift", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- the records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeOutcome:
    """One node's part of a drift run: its role, its summary (the runner's record of its checks, or why
    it could not be reached) and its JSON summary's path, whose HTML and JUnit siblings (same name,
    ``.html`` and ``.xml``) the index links."""

    node: str
    role: str | None
    summary: RunSummary
    summary_json: Path | None = None

    @property
    def status(self) -> int:
        """What the node alone would exit with: unreachable, a check failed or errored, or 0."""
        if self.summary.unreachable:
            return EXIT_UNREACHABLE
        return EXIT_FAILED if self.summary.failing else 0

    @classmethod
    def from_run_result(cls, result: RunResult) -> NodeOutcome:
        json_path = next((p for p in result.reports if p.suffix == ".json"), None)
        return cls(result.run.node.name, result.run.role, result.summary, json_path)

    @classmethod
    def read(cls, node: str, role: str | None, summary_json: Path) -> NodeOutcome:
        """From a JSON summary on disk; one that is missing or unreadable stands as one errored check
        (``xcatha.summary``), so a run never passes silently."""
        try:
            summary = RunSummary.load(summary_json)
        except SummaryUnreadable as exc:
            summary = RunSummary("", "", node, "drift", "", "", results=[
                CheckResult(SUMMARY_CHECK, node, "drift", "error", message=str(exc))])  # fmt: skip
        return cls(node, role, summary, summary_json)

    @classmethod
    def unreachable(cls, node: str, role: str | None, why: str) -> NodeOutcome:
        return cls(node, role, RunSummary("", "", node, "drift", "", "", unreachable=why or "unreachable"))


@dataclass
class DriftRun:
    """One drift run of a pair: the record in ``RUN_ID/run.json`` and, for the newest run, ``latest.json``.

    `nodes`: ``{node: {"role", "reachable", "status", "message", "reports": {"html"|"junit"|"json": path}}}``
    with report paths relative to the run directory. `checks`: ``{"<node>/<check_id>": {"node", "check_id",
    "outcome", "observed", "fix", "message"}}`` (first lines only). `counts`: ``passed``, ``failed``,
    ``error``, ``skipped``, ``unreachable_nodes``. `changes`: see :func:`diff_runs`.
    """

    run_id: str
    started_at: str
    cluster: str
    nodes: dict[str, dict[str, Any]]
    checks: dict[str, dict[str, str]]
    counts: dict[str, int]
    changes: dict[str, Any] = field(default_factory=dict)
    finished_at: str = ""
    tool_version: str = __version__
    schema_version: str = SCHEMA_VERSION

    @property
    def unreachable(self) -> list[str]:
        return [name for name, node in self.nodes.items() if not node.get("reachable")]

    @property
    def failing(self) -> list[str]:
        """Keys (``node/check_id``) of the checks that failed or errored."""
        return [key for key, c in self.checks.items() if c.get("outcome") in FAILING]

    @property
    def verdict(self) -> str:
        """``unreachable`` (a node could not be checked), ``drift`` (a check failed) or ``green``."""
        if self.unreachable:
            return "unreachable"
        return "drift" if self.failing else "green"

    @property
    def started(self) -> datetime:
        return _parse_time(self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "run_id": self.run_id,
            "cluster": self.cluster,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": self.verdict,
            "exit_status": exit_status(self),
            "counts": self.counts,
            "nodes": self.nodes,
            "checks": self.checks,
            "changes": self.changes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftRun:
        return cls(
            run_id=str(data["run_id"]), started_at=str(data["started_at"]), cluster=str(data.get("cluster", "")),
            nodes=dict(data.get("nodes") or {}), checks=dict(data.get("checks") or {}),
            counts=dict(data.get("counts") or {}), changes=dict(data.get("changes") or {}),
            finished_at=str(data.get("finished_at", "")), tool_version=str(data.get("tool_version", "")),
            schema_version=str(data.get("schema_version", SCHEMA_VERSION)),
        )  # fmt: skip


def exit_status(run: DriftRun) -> int:
    """For monitors: 3 a node could not be reached, else 1 a check failed or errored, else 0."""
    if run.unreachable:
        return EXIT_UNREACHABLE
    return EXIT_FAILED if run.failing else 0


def _parse_time(stamp: str) -> datetime:
    """ISO 8601; a time without offset is taken as local time."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"not an ISO 8601 time: {stamp!r}") from exc
    return moment if moment.tzinfo else moment.astimezone()


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    line = redact(lines[0]) if lines else ""
    return line if len(line) <= LINE_WIDTH else line[: LINE_WIDTH - 3] + "..."


# --- building a run from the per-node summaries -----------------------------------------------------


def _report_paths(summary_json: Path, run_dir: Path) -> dict[str, str]:
    """The node's reports that exist, relative to the run directory when inside it."""
    base = summary_json.with_suffix("")
    found = {}
    for kind, ext in _REPORT_KINDS:
        path = base.with_name(base.name + ext)
        if path.is_file():
            try:
                found[kind] = path.resolve().relative_to(run_dir.resolve()).as_posix()
            except ValueError:
                found[kind] = str(path.resolve())
    return found


def _outcome_rank(outcome: str) -> int:
    return {"error": 3, "failed": 2, "passed": 1}.get(outcome, 0)


def build_run(run_dir: Path, cluster: str, started_at: str, node_results: list[NodeOutcome]) -> DriftRun:
    """The run's record from its nodes' outcomes and JSON summaries (no history, no files written).

    A reachable node whose summary is missing or unreadable gets one check ``xcatha.summary`` with
    outcome ``error``: a run never passes silently.
    """
    if not node_results:
        raise UsageError("a drift run needs at least one node")
    _parse_time(started_at)
    run_dir = Path(run_dir)
    nodes: dict[str, dict[str, Any]] = {}
    checks: dict[str, dict[str, str]] = {}
    for outcome in node_results:
        unreachable = outcome.summary.unreachable
        entry: dict[str, Any] = {
            "role": outcome.role, "reachable": not unreachable, "status": outcome.status,
            "message": _first_line(unreachable), "reports": {},
        }  # fmt: skip
        nodes[outcome.node] = entry
        if unreachable:
            continue
        if outcome.summary_json is not None:
            entry["reports"] = _report_paths(Path(outcome.summary_json), run_dir)
        for result in outcome.summary.results:
            key = f"{outcome.node}/{result.check_id}"
            item = {
                "node": outcome.node, "check_id": result.check_id, "outcome": result.outcome,
                "observed": _first_line(result.observed), "fix": _first_line(result.fix),
                "message": _first_line(result.message),
            }  # fmt: skip
            # The same id twice on a node (a parametrized check): the worst outcome stands for it.
            if key not in checks or _outcome_rank(item["outcome"]) > _outcome_rank(checks[key]["outcome"]):
                checks[key] = item
    counts = {outcome: sum(c["outcome"] == outcome for c in checks.values())
              for outcome in ("passed", "failed", "error", "skipped")}  # fmt: skip
    counts["unreachable_nodes"] = sum(not n["reachable"] for n in nodes.values())
    return DriftRun(
        run_id=run_dir.name, started_at=started_at, cluster=cluster, nodes=nodes, checks=checks, counts=counts,
        finished_at=_now_iso(),
    )  # fmt: skip


# --- what changed -----------------------------------------------------------------------------------


def _open_failures(run: DriftRun) -> dict[str, dict[str, Any]]:
    """The failures a run hands on to the next one: failing, or failing when last checked, with their streak."""
    changes = run.changes or {}
    if not any(name in changes for name in _CHANGE_LISTS):  # a record without changes: its failures start here
        return {key: {"key": key, **run.checks[key], "since": run.started_at} for key in run.failing}
    return {item["key"]: item for name in ("newly_failing", "still_failing", "not_checked")
            for item in changes.get(name, [])}  # fmt: skip


def diff_runs(previous: DriftRun | None, current: DriftRun) -> dict[str, Any]:
    """What changed from `previous` (None for the first run) to `current`.

    ``{"previous_run_id", "newly_failing", "resolved", "still_failing", "not_checked"}``, each list of
    ``{"key", "node", "check_id", "outcome", "observed", "fix", "message", "since"}`` sorted by key:

    - newly_failing: failing now, not failing in `previous` (every failure of a first run);
      since = this run's start.
    - still_failing: failing now and in `previous` (or when its node was last checked); since = the start
      of the first run of the streak.
    - resolved: failing in `previous`, not failing now on a node that was checked; outcome = what it is
      now (``passed``, ``skipped``, or ``absent`` when the check did not run), observed/fix = the failure's.
    - not_checked: failing in `previous`, its node unreachable now; the streak is kept.
    """
    before = _open_failures(previous) if previous is not None else {}
    unreachable = set(current.unreachable)
    changes: dict[str, Any] = {"previous_run_id": previous.run_id if previous else None}
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _CHANGE_LISTS}
    for key in current.failing:
        check = current.checks[key]
        since = before[key]["since"] if key in before else current.started_at
        lists["still_failing" if key in before else "newly_failing"].append({"key": key, **check, "since": since})
    for key, item in before.items():
        if key in current.checks and current.checks[key]["outcome"] in FAILING:
            continue
        if item["node"] in unreachable or (item["node"] not in current.nodes and key not in current.checks):
            lists["not_checked"].append({**item, "outcome": "not checked"})
        else:
            now = current.checks[key]["outcome"] if key in current.checks else "absent"
            lists["resolved"].append({**item, "outcome": now})
    for name in _CHANGE_LISTS:
        changes[name] = sorted(lists[name], key=lambda i: i["key"])
    return changes


# --- the history on disk ----------------------------------------------------------------------------


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text, mode)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _locked(report_root: Path) -> Iterator[None]:
    """Hold ``report_root/.drift.lock`` exclusively (flock: released when the descriptor closes, even on a crash)."""
    report_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(report_root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sort_key(item: tuple[Path, DriftRun]) -> tuple[datetime, str]:
    return item[1].started, item[1].run_id


def load_runs(report_root: Path) -> list[tuple[Path, DriftRun]]:
    """Every run directory directly under `report_root` with a readable ``run.json``, oldest first."""
    runs = []
    for record in Path(report_root).glob(f"*/{RUN_NAME}"):
        if record.parent.is_symlink():
            continue
        try:
            run = DriftRun.from_dict(json.loads(record.read_text(encoding="utf-8")))
            _parse_time(run.started_at)  # a bad time is skipped like a bad file
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable drift record %s: %s", record, exc)
            continue
        runs.append((record.parent, run))
    return sorted(runs, key=_sort_key)


def _remove_old(runs: list[tuple[Path, DriftRun]], keep_days: int, now: datetime | None,
                keep: set[Path]) -> list[Path]:  # fmt: skip
    if keep_days < 0:
        raise UsageError(f"--keep-days {keep_days}: expected 0 or more days")
    if not runs:
        return []
    moment = now or datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.astimezone()
    cutoff = moment - timedelta(days=keep_days)
    protected = {runs[-1][0].resolve(), *(p.resolve() for p in keep)}
    removed = []
    for directory, run in runs:
        if run.started < cutoff and directory.resolve() not in protected:
            log.info("retention: removing %s (started %s, older than %d days)", directory, run.started_at, keep_days)
            shutil.rmtree(directory)
            removed.append(directory)
    return removed


def apply_retention(report_root: Path, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Remove the run directories (those holding ``run.json``) that started more than `keep_days` days before
    `now`, never the newest run; the directories removed. Takes the history lock; :func:`record_run` applies
    retention itself, under the lock it already holds.
    """
    report_root = Path(report_root)
    with _locked(report_root):
        return _remove_old(load_runs(report_root), keep_days, now, set())


def record_run(
    report_root: Path,
    run_dir: Path,
    cluster: str,
    started_at: str,
    node_results: list[NodeOutcome],
    *,
    keep_days: int = DEFAULT_KEEP_DAYS,
    now: datetime | None = None,
) -> DriftRun:
    """Record a drift run and update the history; the run, with its `changes`.

    `run_dir` is the run's directory directly under `report_root` (its name is the run id) holding the
    nodes' reports. Under the lock: ``run_dir/run.json`` is written with the changes since the run that
    started before it (runs that started after it and were recorded first are recomputed), runs older
    than `keep_days` are removed (never the newest, nor this one), then ``index.html``, ``latest.json``
    and ``xcatha.prom`` are rewritten from the newest run. `now` is for retention (tests).
    """
    report_root, run_dir = Path(report_root), Path(run_dir)
    if run_dir.resolve().parent != report_root.resolve():
        raise UsageError(f"run directory {run_dir} must be directly under the report directory {report_root}")
    if keep_days < 0:
        raise UsageError(f"--keep-days {keep_days}: expected 0 or more days")
    run_dir.mkdir(parents=True, exist_ok=True)
    run = build_run(run_dir, cluster, started_at, node_results)
    with _locked(report_root):
        runs = [(d, r) for d, r in load_runs(report_root) if d.resolve() != run_dir.resolve()]
        runs = sorted([*runs, (run_dir, run)], key=_sort_key)
        position = next(i for i, (d, _) in enumerate(runs) if d == run_dir)
        for i in range(position, len(runs)):
            directory, later = runs[i]
            changes = diff_runs(runs[i - 1][1] if i else None, later)
            if later is run or changes != later.changes:
                later.changes = changes
                _write_json(directory / RUN_NAME, later.to_dict())
        removed = _remove_old(runs, keep_days, now, {run_dir})
        kept = [(d, r) for d, r in runs if d not in removed]
        newest = kept[-1][1]
        _write_atomic(report_root / INDEX_NAME, render_index([r for _, r in kept]))
        _write_json(report_root / LATEST_NAME, newest.to_dict())
        _write_atomic(report_root / PROM_NAME, render_prometheus(newest))
    return run


# --- Prometheus textfile ----------------------------------------------------------------------------


def _label(value: str) -> str:
    """A label value escaped per the text exposition format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_label(str(value))}"' for name, value in labels.items()) + "}"


def render_prometheus(run: DriftRun) -> str:
    """The run as a node_exporter textfile: one sample per check that ran (skipped ones are left out)."""
    lines = [
        "# HELP xcatha_check_ok 1 when the check passed in the newest drift run, 0 when it failed or errored.",
        "# TYPE xcatha_check_ok gauge",
    ]
    for key in sorted(run.checks):
        check = run.checks[key]
        if check["outcome"] in ("passed", *FAILING):
            labels = _labels(cluster=run.cluster, node=check["node"], check=check["check_id"])
            lines.append(f"xcatha_check_ok{labels} {1 if check['outcome'] == 'passed' else 0}")
    lines += [
        "# HELP xcatha_node_reachable 1 when the node could be checked in the newest drift run, 0 when unreachable.",
        "# TYPE xcatha_node_reachable gauge",
    ]
    for name in sorted(run.nodes):
        lines.append(f"xcatha_node_reachable{_labels(cluster=run.cluster, node=name)} "
                     f"{1 if run.nodes[name].get('reachable') else 0}")  # fmt: skip
    cluster = _labels(cluster=run.cluster)
    lines += [
        "# HELP xcatha_last_run_timestamp_seconds When the newest drift run started, in seconds since the epoch.",
        "# TYPE xcatha_last_run_timestamp_seconds gauge",
        f"xcatha_last_run_timestamp_seconds{cluster} {run.started.timestamp():.0f}",
        "# HELP xcatha_checks_failed Checks that failed or errored in the newest drift run.",
        "# TYPE xcatha_checks_failed gauge",
        f"xcatha_checks_failed{cluster} {len(run.failing)}",
    ]
    return "\n".join(lines) + "\n"


# --- index.html -------------------------------------------------------------------------------------

_HEADLINES = {"green": "GREEN", "drift": "DRIFT", "unreachable": "NODE UNREACHABLE"}


def _time(stamp: str) -> str:
    return stamp.replace("T", " ") if stamp else ""


def _href(run_id: str, path: str) -> str:
    """A link from the index: ``RUN_ID/<file>`` for a report in the run directory, else a file: URI."""
    if Path(path).is_absolute():
        return Path(path).as_uri()
    return "/".join(urllib.parse.quote(part) for part in (run_id, *Path(path).parts))


def _run_context(run: DriftRun) -> dict[str, Any]:
    nodes = [{
        "name": name, "role": node.get("role") or "", "reachable": bool(node.get("reachable")),
        "message": node.get("message", ""),
        "reports": [{"kind": kind, "name": Path(path).name, "href": _href(run.run_id, path)}
                    for kind, path in sorted((node.get("reports") or {}).items())],
    } for name, node in sorted(run.nodes.items())]  # fmt: skip
    changes = run.changes or {}
    since = {item["key"]: item["since"] for name in ("newly_failing", "still_failing")
             for item in changes.get(name, [])}  # fmt: skip
    failing = [{**run.checks[key], "since": _time(since.get(key, ""))} for key in sorted(run.failing)]

    def items(name: str) -> list[dict[str, Any]]:
        return [{**item, "since": _time(item.get("since", ""))} for item in changes.get(name, [])]

    return {
        "run_id": run.run_id, "cluster": run.cluster, "started_at": _time(run.started_at),
        "verdict": run.verdict, "headline": _HEADLINES[run.verdict], "counts": run.counts, "nodes": nodes,
        "failing": failing, "newly_failing": items("newly_failing"), "resolved": items("resolved"),
        "still_failing": items("still_failing"), "not_checked": items("not_checked"),
        "previous_run_id": changes.get("previous_run_id"),
    }  # fmt: skip


def render_index(runs: list[DriftRun]) -> str:
    """The history page: the runs newest first, the newest in a box at the top."""
    ordered = sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)
    contexts = [_run_context(r) for r in ordered]
    clusters = sorted({r.cluster for r in ordered if r.cluster})
    return _env.get_template("index.html.j2").render(
        runs=contexts, latest=contexts[0] if contexts else None, clusters=clusters,
        generated_at=_time(_now_iso()), latest_name=LATEST_NAME, prom_name=PROM_NAME,
    )  # fmt: skip
