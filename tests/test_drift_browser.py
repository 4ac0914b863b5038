"""The drift pages in a real browser: headless Chromium loads index.html and a node's run report from disk.

Two drift runs are recorded: a green one, then one where a check fails on xcatmn2. xcatmn2's reports of
the second run are real: a child pytest runs a tiny failing check with the project's plugins, so the
run report is pytest-html's own self-contained page (with its script). Chromium then loads each page
and dumps the DOM after its scripts ran; the new failure must be in the page text, and the page must
not have written to the console.

Console messages: Chromium logs every message a page writes to the console (console.log/warn/error and
uncaught exceptions) to stderr with ``--enable-logging=stderr``, as ``...:INFO:CONSOLE:12] "text", source:
URL (12)`` in current versions (``CONSOLE(12)`` in older ones) and always at level INFO, so the level
cannot tell an error apart. Our pages have no script and pytest-html's writes nothing when it works, so
any console line fails the test. A canary page with a console.error and an uncaught exception proves the
detection works with the Chromium installed.
"""

import html
import os
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from xcatha_verify.drift import NodeOutcome, exit_status, record_in_progress, record_run
from xcatha_verify.report import CheckResult, RunSummary
from xcatha_verify.runbook_engine.lock import LockInfo

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless browser test needs Debian's chromium package (/usr/bin/chromium)"
)

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "tests" / "inventories" / "minimal.yml"
CLUSTER = "test"
CHECK_ID = "services.disabled_at_boot"
T0 = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC).astimezone()
CONSOLE = re.compile(r":CONSOLE[(:]\d*")
CHROMIUM_TIMEOUT = 60

CHECKS = textwrap.dedent(f'''
    from xcatha_verify.checkkit import check, verdict


    @check("vip.absent", phases=("standby",))
    def check_vip_absent(host):
        verdict(True, observed="", expected="", fix="")


    @check("{CHECK_ID}", phases=("standby",))
    def check_disabled_at_boot(host):
        verdict(False, observed="xcatd: enabled", expected="disabled or masked at boot: postgresql, xcatd",
                fix="systemctl disable xcatd")
''')


def fake_summary(run_dir: Path, node: str, role: str, started_at: str) -> Path:
    base = run_dir / f"{run_dir.name}-{CLUSTER}-{node}-drift-{role}"
    RunSummary("0.1.0", CLUSTER, node, "drift", started_at, str(INVENTORY), finished_at=started_at, results=[
        CheckResult("vip.present", node, "drift", "passed", duration_s=0.1, started_at=started_at),
    ]).write_json(f"{base}.json")
    Path(f"{base}.html").write_text(f"<!DOCTYPE html><title>{node}</title><p>vip.present passed on {node}</p>\n")
    return Path(f"{base}.json")


def checks_run(tmp: Path, source: str, base: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest with the xcatha plugins on the check module `source`, as the runner runs it: xcatmn2's reports
    at `base`."""
    checks = tmp / "checks"
    checks.mkdir()
    (checks / "checks.py").write_text(source)
    argv = [
        sys.executable, "-m", "pytest", str(checks / "checks.py"), "-o", "python_functions=check_*",
        "--rootdir", str(checks), "-c", os.devnull,
        "-p", "no:cacheprovider", "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder",
        "--hosts=local://", f"--xcatha-inventory={INVENTORY}", "--xcatha-node=xcatmn2", *options,
        f"--html={base}.html", "--self-contained-html", f"--junitxml={base}.xml",
        f"--xcatha-json={base}.json", "--xcatha-console", "-qq", "--no-header", "--no-summary", "--tb=short",
        "--color=no", "-p", "no:warnings",
    ]  # fmt: skip
    return subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=120, check=False)


def real_reports(tmp: Path, run_dir: Path) -> Path:
    """xcatmn2's reports of a run, written by pytest with the xcatha plugins as the runner would."""
    base = run_dir / f"{run_dir.name}-{CLUSTER}-xcatmn2-drift-standby"
    proc = checks_run(tmp, CHECKS, base, "--xcatha-phase=drift", "--xcatha-role=standby")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return Path(f"{base}.json")


class _Text(HTMLParser):
    """The text a reader sees: character data outside head/style/script, no attribute values; with
    `closed_details`, also none inside a closed <details> but its <summary> (what its toggle hides)."""

    HIDDEN = ("head", "title", "style", "script", "template")

    def __init__(self, closed_details: bool = False) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0
        self.closed_details = closed_details
        self.details: list[bool] = []  # per open <details> element: whether it is closed
        self.summary = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN
        if tag == "details":
            self.details.append("open" not in dict(attrs))
        self.summary += tag == "summary"

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN
        if tag == "details" and self.details:
            self.details.pop()
        self.summary -= tag == "summary"

    def handle_data(self, data: str) -> None:
        toggled_away = self.closed_details and any(self.details) and not self.summary
        if not self.hidden and not toggled_away:
            self.parts.append(data)


def page_text(dom: str, closed_details: bool = False) -> str:
    parser = _Text(closed_details)
    parser.feed(dom)
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def load(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Chromium's DOM of `page` after its scripts ran, and the console lines it logged."""
    argv = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "</html>" in proc.stdout, proc.stderr[-3000:]
    console = [line for line in proc.stderr.splitlines() if CONSOLE.search(line) or "Uncaught" in line]
    return proc.stdout, console


# Run after the page's own script: the text the browser renders (CSS and closed <details> applied), kept
# in an attribute of <html> so that the dumped DOM carries it.
VISIBLE_PROBE = "<script>document.documentElement.dataset.visible = document.body.innerText;</script>"


def visible_text(page: Path, profile: Path) -> tuple[str, list[str]]:
    """What Chromium renders as text on `page` (body.innerText), and the console lines of that load."""
    probed = page.with_name(f"probed-{page.name}")
    html_text = page.read_text()
    assert html_text.count("</body>") == 1
    probed.write_text(html_text.replace("</body>", VISIBLE_PROBE + "</body>"))
    dom, console = load(probed, profile)
    found = re.search(r'<html[^>]* data-visible="([^"]*)"', dom)
    assert found is not None, dom[:2000]
    return re.sub(r"\s+", " ", html.unescape(found.group(1))).strip(), console


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift-browser")
    root = tmp / "reports"
    green = root / "20261125T060000-test"
    green.mkdir(parents=True)
    started = T0.isoformat(timespec="seconds")
    first = record_run(root, green, CLUSTER, started, [
        NodeOutcome.read("xcatmn1", "active", fake_summary(green, "xcatmn1", "active", started)),
        NodeOutcome.read("xcatmn2", "standby", fake_summary(green, "xcatmn2", "standby", started)),
    ])
    assert exit_status(first) == 0
    drifted = root / "20261125T070000-test"
    drifted.mkdir()
    started = (T0 + timedelta(hours=1)).isoformat(timespec="seconds")
    second = record_run(root, drifted, CLUSTER, started, [
        NodeOutcome.read("xcatmn1", "active", fake_summary(drifted, "xcatmn1", "active", started)),
        NodeOutcome.read("xcatmn2", "standby", real_reports(tmp, drifted)),
    ])
    assert exit_status(second) == 1
    assert [i["key"] for i in second.changes["newly_failing"]] == [f"xcatmn2/{CHECK_ID}"]
    report = drifted / second.nodes["xcatmn2"]["reports"]["html"]
    return tmp, root, report


def test_detection_of_console_errors_works_with_this_chromium(tmp_path):
    canary = tmp_path / "canary.html"
    canary.write_text('<!DOCTYPE html><html><body><p>canary</p><script>console.error("canary error");'
                      "notDefinedAnywhere();</script></body></html>\n")
    dom, console = load(canary, tmp_path / "profile")
    assert "canary" in page_text(dom)
    assert any("canary error" in line for line in console), console
    assert any("Uncaught ReferenceError" in line for line in console), console


def test_index_shows_the_new_failure_without_console_errors(history):
    tmp, root, _ = history
    dom, console = load(root / "index.html", tmp / "profile-index")
    assert console == []
    text = page_text(dom)
    assert text.startswith("DRIFT")
    assert f"newly failing: {CHECK_ID} on xcatmn2 (xcatd: enabled; fix: systemctl disable xcatd)" in text
    assert "xcatmn2 (standby): reachable" in text
    assert text.index("20261125T070000-test") < text.index("20261125T060000-test")


def test_run_report_shows_the_failure_without_console_errors(history):
    tmp, root, report = history
    index = (root / "index.html").read_text()
    assert f'href="{report.relative_to(root).as_posix()}"' in index
    dom, console = load(report, tmp / "profile-report")
    assert console == []
    text = page_text(dom)  # pytest-html builds its table with script: this is the rendered page
    assert CHECK_ID in text
    assert "xcatmn2" in text
    assert "xcatd: enabled" in text


def test_index_during_a_failover_shows_it_in_progress_without_console_errors(history, tmp_path):
    _, root, _ = history
    # A copy of the history, so the module's pages stay as the other tests expect them.
    copy = tmp_path / "reports"
    shutil.copytree(root, copy)
    run_dir = copy / "20261125T080000-test"
    run_dir.mkdir()
    lock = LockInfo("root@xcatmn1", "xcatmn1", 4242, "failover", "20261125T075500-failover",
                    (T0 + timedelta(minutes=115)).isoformat(timespec="seconds"))
    run = record_in_progress(copy, run_dir, CLUSTER, (T0 + timedelta(hours=2)).isoformat(timespec="seconds"),
                             lock, ["xcatmn1", "shared storage via xcatmn1", "xcatmn2"],
                             {"xcatmn1": "", "xcatmn2": ""})
    assert exit_status(run) == 0
    dom, console = load(copy / "index.html", tmp_path / "profile")
    assert console == []
    text = page_text(dom)
    assert text.startswith("FAILOVER IN PROGRESS")
    assert "not judged: a runbook run holds the run lock" in text
    assert "failover in progress (run 20261125T075500-failover, failover, root@xcatmn1, since " in text
    assert "Last judged" in text and "DRIFT" in text  # the run before the failover, not claimed as now
    assert f"newly failing: {CHECK_ID} on xcatmn2" in text  # still listed, under that run


# --- the checks page --------------------------------------------------------------------------------

FIX = "ss -ltnp 'sport = :3001'\nkill 4242  # the program holding xcatd's port, then run the checks again"
# The drift run's two checks and one of every other kind: an error, a blocked check, a pass that noted
# what it found true, a failure whose fix has two lines.
PAGE_CHECKS = CHECKS.replace("import check, verdict", "import blocked, check, verdict") + textwrap.dedent(f'''


    @check("services.stopped", phases=("standby",))
    def check_stopped(host):
        peer = "xcatmn2"
        raise RuntimeError(f"ssh: connect to host {{peer}}: Connection refused")


    @check("services.ports_free", phases=("standby",))
    def check_ports_free(host):
        verdict(False, observed="python3 (pid 4242) holds 3001/tcp", expected="free for the services: 3001/tcp",
                fix={FIX!r})


    @check("pair.peer_deactivated", phases=("standby",))
    def check_peer(host):
        blocked(by="xcatmn1 unreachable", why="xcatmn1 cannot be reached: timed out")


    @check("shared.disconnected", phases=("standby",))
    def check_disconnected(host):
        verdict(True, observed="", expected="none connected: /etc/xcat, /install", fix="")

''')
# Lines of pytest's traceback (--tb=short), never our own cells: the source lines that raised.
TRACEBACK = ('raise RuntimeError(f"ssh: connect to host {peer}', "in check_disabled_at_boot")


@pytest.fixture(scope="module")
def checks_page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("checks-page")
    base = tmp / "reports" / "20261125T060000-test-xcatmn2-standby"
    proc = checks_run(tmp, PAGE_CHECKS, base, "--xcatha-phase=standby")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return tmp, Path(f"{base}.html")


def test_failing_checks_page_loads_without_console_errors_and_hides_the_traceback(checks_page):
    tmp, page = checks_page
    dom, console = load(page, tmp / "profile-page")
    assert console == []
    for line in TRACEBACK:
        assert line in page_text(dom)  # pytest's traceback is on the page, for developers ...
        assert line not in page_text(dom, closed_details=True)  # ... inside a closed <details> only
    assert "<details open" not in dom
    assert page_text(dom, closed_details=True).count("details for developers") == 4  # each check that did not pass
    # Failing rows first (for pytest an error in the check's call is a failure too), then blocked (pytest's
    # skip), then passed: the check module's order is passed, failed, failed, failed, blocked, passed.
    rows = re.findall(r'<tbody class="results-table-row (\w+)"', dom)
    assert rows == ["failed", "failed", "failed", "skipped", "passed", "passed"], rows


def test_failing_checks_page_shows_the_verdict_and_the_whole_fix(checks_page):
    tmp, page = checks_page
    text, console = visible_text(page, tmp / "profile-visible")
    assert console == []
    assert ("NOT READY: xcatmn1 unreachable 3 of 6 checks failed (1 could not run); 1 blocked by xcatmn1 unreachable "
            "xcatmn2 standby: 2 passed, 2 failed, 1 errors, 1 blocked") in text
    assert "OBSERVED xcatd: enabled EXPECTED disabled or masked at boot: postgresql, xcatd FIX systemctl" in text
    assert f"FIX {' '.join(FIX.split())}" in text  # every line of it
    assert "RuntimeError: ssh: connect to host xcatmn2: Connection refused" in text
    assert "BLOCKED BY xcatmn1 unreachable" in text
    for line in TRACEBACK:
        assert line not in text
    assert "details for developers" in text
    # A passed check shows what it found true.
    assert "shared.disconnected OBSERVED none connected: /etc/xcat, /install" in text
    # Only the filters a check run can have.
    assert "3 Failed, 0 Errors, 1 Skipped or blocked, 2 Passed" in text
    for other in ("Expected failures", "Unexpected passes", "Reruns", "Retried"):
        assert other not in text
