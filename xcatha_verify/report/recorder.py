"""pytest plugin: one :class:`CheckResult` per check, written to the console, JSON, JUnit XML and pytest-html.

Load it next to the checks plugin::

    python -m pytest CHECKS -p xcatha_verify.pytest_checks -p xcatha_verify.report.recorder \\
        --hosts=SPEC --xcatha-inventory=INV --xcatha-node=NODE --xcatha-phase=PHASE \\
        --xcatha-json=BASE.json --html=BASE.html --self-contained-html --junitxml=BASE.xml \\
        --xcatha-console -qq --no-header --no-summary --tb=short --color=no -p no:warnings

Options:

``--xcatha-json=PATH``
    write the run summary (``docs/report-schema.md``) to PATH at the end, atomically.
``--xcatha-console``
    print each check as it finishes (``PASS  vip.absent  xcatmn2``; a failure with its observed, expected
    and whole fix on the lines under it: :mod:`.console`) and one summary line at the end (``xcatmn2
    pre-activate: 9 passed, 2 failed, 0 errors``), coloured when pytest's ``--color`` says so; pytest's
    own progress letters and pytest-html's "Generated html report" line are suppressed (the CLI prints
    one line per report). For nothing else on the console, also pass ``-qq`` (no stats line, no
    junitxml line), ``--no-header``, ``--no-summary`` (no FAILURES section, no -r summary) and ``-p
    no:warnings``; ``--tb=short`` then only shapes the tracebacks in the HTML log and JUnit XML. What
    remains after the summary line is pytest's blank line (and "Interrupted: ..." when a check module
    fails to import).
``--xcatha-secrets-file=PATH``
    a file of secrets, one per line, hidden (``********``) in every output, like ``register_secret()``.
    The CLI runs pytest in a child process, so it cannot call ``register_secret()`` for it: write its
    secrets to a private file (mode 0600) and pass this option instead.

Outcomes: ``passed``; ``failed`` when the check's verdict was negative (an ``AssertionError``, normally
``CheckFailed``); ``error`` when no verdict could be reached (a fixture failed in setup, or the check
raised anything else, e.g. testinfra's ``RuntimeError`` when ssh fails); ``blocked`` when the check
could not judge because something it depends on is broken (``CheckBlocked``: a check it ``needs``
did not pass, or the peer is unreachable), with ``blocked_by``; ``skipped``. JUnit XML keeps pytest's
own failure/error split, writes a blocked check as ``<skipped type="blocked" message="blocked by
...">`` and carries ``check_id``, ``observed``, ``expected``, ``fix``, ``message`` and ``blocked_by``
as ``<property>`` elements of each ``<testcase>``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
from collections.abc import Generator
from datetime import datetime
from html import escape
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

from xcatha_verify import __version__
from xcatha_verify.checkkit import MARK, CheckBlocked, CheckFailed, take_notes
from xcatha_verify.errors import XcathaError
from xcatha_verify.inventory import Inventory, load_inventory
from xcatha_verify.report import checks_page, junit
from xcatha_verify.report.console import check_lines, first_line, summary_line
from xcatha_verify.report.records import CheckResult, Outcome, RunSummary, redact, register_secret

PLUGIN_NAME = "xcatha-report"
# The run's summary, for a caller that runs pytest in its own process (the config stays readable after).
SUMMARY = pytest.StashKey[RunSummary]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xcatha", "xcatha-verify")
    group.addoption("--xcatha-json", metavar="PATH", help="write the JSON run summary to PATH")
    group.addoption("--xcatha-console", action="store_true", help="print one line per check and a summary line")
    group.addoption("--xcatha-secrets-file", metavar="PATH", help="file of secrets (one per line) to redact")


@pytest.hookimpl(trylast=True)  # after pytest-metadata has filled the environment table we replace
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # xdist workers report to the controller, which writes the reports
        return
    config.pluginmanager.register(XcathaReport(config), PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is not None:
        xml_path = getattr(config.option, "xmlpath", None)
        if xml_path and os.path.exists(xml_path):  # junitxml wrote it at session finish, before this
            junit.mark_blocked(xml_path, plugin.summary.results)
        config.pluginmanager.unregister(plugin)


def _now() -> datetime:
    return datetime.now().astimezone()


def exception_summary(exc: BaseException) -> str:
    """One line: the type and the first line of the message (ssh's last stderr line for testinfra)."""
    detail = exc.args[0] if exc.args else None
    stderr = getattr(detail, "stderr", None)  # testinfra raises RuntimeError(CommandResult) when ssh fails
    if isinstance(stderr, str) and stderr.strip():
        line = stderr.strip().splitlines()[-1].strip()
    else:
        line = first_line(str(exc))
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _redact_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Hide secrets in what pytest itself writes from a report: traceback, captured output, properties."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        report.longrepr = (longrepr[0], longrepr[1], redact(longrepr[2]))
    elif longrepr is not None:
        text = report.longreprtext
        if redact(text) != text:
            report.longrepr = redact(text)
    report.sections = [(title, redact(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(name, redact(str(value))) for name, value in report.user_properties]


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _load_inventory(config: pytest.Config) -> Inventory | None:
    path = config.getoption("--xcatha-inventory", None)
    if not path:
        return None
    try:
        return load_inventory(path)
    except XcathaError:  # the `inventory` fixture fails each check with the reason; the report still gets written
        return None


def _environment(config: pytest.Config, inventory: Inventory | None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "hosts": config.getoption("hosts", None) or "",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pytest": pytest.__version__,
        "testinfra": _version("pytest-testinfra"),
    }
    if inventory is not None:
        data = inventory.to_dict()
        env.update({key: data[key] for key in ("vip", "nodes", "services", "shared_data")})
    return env


def _environment_table(summary: RunSummary, inventory: Inventory | None) -> dict[str, Any]:
    """pytest-html's Environment table; its JavaScript renders values as HTML, so they are escaped here."""
    table: dict[str, Any] = {"Cluster": summary.cluster, "Node": summary.node, "Phase": summary.phase,
                             "Inventory path": summary.inventory}
    if inventory is not None:
        vip = inventory.vip
        table["VIP"] = f"{vip.address}/{vip.prefix} on {vip.interface} label {vip.label} ({vip.hostname})"
        table["Nodes"] = {node.name: f"{node.target}, {node.static_ip}" for node in inventory.nodes}
        table["Services"] = ", ".join(s.role if s.unit == s.role else f"{s.role} ({s.unit})"
                                      for s in inventory.services)
        table["Shared data"] = ", ".join(p.path for p in inventory.shared_data)
    table["Started at"] = summary.started_at
    table["xcatha-verify version"] = summary.tool_version

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        return escape(redact(str(value)))

    return {key: clean(value) for key, value in table.items()}


def _drop_html_terminal_line(config: pytest.Config) -> None:
    """pytest-html's "Generated html report: file://..." console line goes: the CLI prints one line per report.

    pytest-html registers its report object without a name, and pluggy takes only callables as hook
    implementations, so the object is registered again with that one hook masked.
    """
    try:
        from pytest_html.basereport import BaseReport
    except ImportError:
        return
    manager = config.pluginmanager
    for plugin in manager.get_plugins():
        if isinstance(plugin, BaseReport):
            name = manager.get_name(plugin)
            manager.unregister(plugin)
            plugin.pytest_terminal_summary = None
            manager.register(plugin, name)


class XcathaReport:
    """The reporting plugin for one pytest session; registered by :func:`pytest_configure`."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.console: bool = config.getoption("--xcatha-console")
        self.json_path: str | None = config.getoption("--xcatha-json")
        self._read_secrets(config.getoption("--xcatha-secrets-file"))
        self.inventory = _load_inventory(config)
        self.started = _now()
        self.summary = RunSummary(
            tool_version=__version__,
            cluster=self.inventory.cluster if self.inventory else "",
            node=config.getoption("--xcatha-node", None) or "",
            phase=config.getoption("--xcatha-phase", None) or "",
            started_at=self.started.isoformat(timespec="seconds"),
            inventory=config.getoption("--xcatha-inventory", None) or "",
            environment=_environment(config, self.inventory),
        )
        self.by_nodeid: dict[str, CheckResult] = {}
        self.id_width = 22
        self._set_metadata()
        if self.console:
            _drop_html_terminal_line(config)

    @staticmethod
    def _read_secrets(path: str | None) -> None:
        if not path:
            return
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise pytest.UsageError(f"--xcatha-secrets-file: cannot read {path}: {exc.strerror}") from None
        for line in lines:
            register_secret(line)

    def _set_metadata(self) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None:
            metadata.clear()
            metadata.update(_environment_table(self.summary, self.inventory))

    # --- building results ---------------------------------------------------------------------------

    def _result(self, item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> CheckResult:
        mark = item.get_closest_marker(MARK)
        check_id = mark.kwargs.get("id", item.name) if mark else getattr(item, "originalname", item.name)
        exc = call.excinfo.value if call.excinfo is not None else None
        outcome: Outcome
        observed = expected = fix = message = blocked_by = ""
        notes = take_notes()  # a failure's observed value says it all: notes show only for a pass
        if report.passed:
            outcome, observed = "passed", notes
        elif isinstance(exc, CheckBlocked):
            outcome, blocked_by, message = "blocked", exc.by, exc.why
        elif report.skipped:
            outcome = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            message = reason.removeprefix("Skipped: ")
        elif report.when == "call" and isinstance(exc, AssertionError):
            outcome = "failed"
            if isinstance(exc, CheckFailed):
                observed, expected, fix = exc.observed, exc.expected, exc.fix
            else:
                message = exception_summary(exc)
        else:
            outcome = "error"
            message = exception_summary(exc) if exc is not None else first_line(report.longreprtext)
        return CheckResult(
            check_id=redact(str(check_id)), node=self.summary.node, phase=self.summary.phase, outcome=outcome,
            observed=redact(observed), expected=redact(expected), fix=redact(fix), message=redact(message),
            blocked_by=redact(blocked_by), duration_s=round(report.duration, 6),
            started_at=datetime.fromtimestamp(report.start).astimezone().isoformat(timespec="milliseconds"),
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        _redact_report(report)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            result = self._result(item, report, call)
            self.by_nodeid[item.nodeid] = result
            props = [("check_id", result.check_id)] + [
                (name, getattr(result, name)) for name in ("observed", "expected", "fix", "message", "blocked_by")
                if getattr(result, name)
            ]
            item.user_properties.extend(props)  # the teardown report, which junitxml reads, copies these
            report.user_properties.extend(props)
        elif report.when == "teardown" and report.failed:
            passed = self.by_nodeid.get(item.nodeid)
            if passed is not None and passed.outcome == "passed":
                summary = exception_summary(call.excinfo.value) if call.excinfo else "teardown failed"
                self.by_nodeid[item.nodeid] = dataclasses.replace(
                    passed, outcome="error", message=redact(f"teardown: {summary}"))
        return report

    @pytest.hookimpl(tryfirst=True)  # redact before junitxml and the terminal see it
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        _redact_report(report)
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        result = CheckResult(
            check_id=f"collect:{report.nodeid or '.'}", node=self.summary.node, phase=self.summary.phase,
            outcome="error", message=redact(re.sub(r"^E\s+", "", lines[-1].strip()) if lines else "collection failed"),
            started_at=_now().isoformat(timespec="milliseconds"),
        )
        self.by_nodeid[report.nodeid] = result
        self._finish(result)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        ids = [str(m.kwargs.get("id", "")) for item in session.items if (m := item.get_closest_marker(MARK))]
        self.id_width = max([len(i) for i in ids] + [self.id_width])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and report.nodeid in self.by_nodeid:
            self._finish(self.by_nodeid[report.nodeid])

    def _finish(self, result: CheckResult) -> None:
        self.summary.results.append(result)
        if self.console:
            for line in check_lines(result, self.id_width, self._color()):
                self._write_line(line)

    # --- console ------------------------------------------------------------------------------------

    def _color(self) -> bool:
        """pytest's own decision (``--color``, which the CLI sets from what its stdout is)."""
        return self.console and self.config.get_terminal_writer().hasmarkup

    def _write_line(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, flush=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> Generator[None, Any, Any]:
        status = yield
        if self.console and config.get_verbosity() <= 0 and status:
            return status[0], "", ""  # keep the category (for the counts), drop the progress letter
        return status

    def _xcat_versions(self) -> dict[str, str]:
        """Each checked node's xCAT version, read by the checks' facts (once, then kept)."""
        if "xcat_version" not in self.summary.environment:
            from xcatha_verify.pytest_checks import xcat_versions  # the facts plugin, loaded beside this one

            self.summary.environment["xcat_version"] = xcat_versions()
        versions: dict[str, str] = self.summary.environment["xcat_version"]
        return versions

    def pytest_sessionfinish(self) -> None:
        self.summary.finished_at = _now().isoformat(timespec="seconds")
        self.config.stash[SUMMARY] = self.summary  # for a caller in this process (runner.run_checks)
        self._xcat_versions()
        if self.console:
            self._write_line(summary_line(self.summary, self._color()))
        if self.json_path:
            self.summary.write_json(self.json_path)

    # --- pytest-html 4.x ----------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        s = self.summary
        words = [s.cluster, s.node, s.phase, self.started.strftime("%Y-%m-%d %H:%M:%S")]
        report.title = redact("xcatha-verify: " + " ".join(w for w in words if w))
        checks_page.arrange_filters(report.outcomes)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        checks_page.table_header(cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        checks_page.table_row(self.by_nodeid.get(report.nodeid), report.nodeid, cells)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        checks_page.developer_log(data)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str]) -> None:
        # A <style> in the page itself: every run with this plugin gets the look, whatever its command line.
        prefix[:0] = [f"<style>{checks_page.STYLE}</style>", checks_page.banner(self.summary, self._xcat_versions())]
