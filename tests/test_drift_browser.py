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


def real_reports(tmp: Path, run_dir: Path) -> Path:
    """xcatmn2's reports of a run, written by pytest with the xcatha plugins as the runner would."""
    checks = tmp / "checks"
    checks.mkdir()
    (checks / "standby.py").write_text(CHECKS)
    base = run_dir / f"{run_dir.name}-{CLUSTER}-xcatmn2-drift-standby"
    argv = [
        sys.executable, "-m", "pytest", str(checks / "standby.py"), "-o", "python_functions=check_*",
        "--rootdir", str(checks), "-c", os.devnull,
        "-p", "no:cacheprovider", "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder",
        "--hosts=local://", f"--xcatha-inventory={INVENTORY}", "--xcatha-node=xcatmn2", "--xcatha-phase=drift",
        "--xcatha-role=standby", f"--html={base}.html", "--self-contained-html", f"--junitxml={base}.xml",
        f"--xcatha-json={base}.json", "--xcatha-console", "-qq", "--no-header", "--no-summary", "--tb=short",
        "--color=no", "-p", "no:warnings",
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return Path(f"{base}.json")


class _Text(HTMLParser):
    """The text a reader sees: character data outside head/style/script, no attribute values."""

    HIDDEN = ("head", "title", "style", "script", "template")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def page_text(dom: str) -> str:
    parser = _Text()
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
