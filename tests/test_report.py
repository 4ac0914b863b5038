"""The report plugin: one run of tiny checks in a child pytest, then every output it wrote is inspected.

The checks: one passes, one fails with observed/expected/fix (a ``<script>`` tag and a cfgloc line with its
password in the observed text), one raises RuntimeError as testinfra does when ssh fails (with a secret
registered by the check), one errors in setup (with a secret from ``--xcatha-secrets-file``), and one of
another phase that must not run.
"""

import html
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from xcatha_verify.report import MASK, CheckResult, RunSummary, redact, register_secret
from xcatha_verify.report.console import OBSERVED_LINES, check_lines, recap_lines, use_color

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "tests" / "inventories" / "minimal.yml"
SCHEMA_DOC = ROOT / "docs" / "report-schema.md"

CFGLOC_PASSWORD = "Sup3r-cfgloc-pw"
CHECK_SECRET = "TopSecretValue42"
FILE_SECRET = "FileSecret-9x7q"
SECRETS = (CFGLOC_PASSWORD, CHECK_SECRET, FILE_SECRET)
SCRIPT = "<script>alert(1)</script>"

CHECKS = textwrap.dedent(f'''
    import os

    import pytest

    from xcatha_verify.checkkit import check, verdict
    from xcatha_verify.report import register_secret

    register_secret("{CHECK_SECRET}")
    CFGLOC = "Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|{CFGLOC_PASSWORD}"


    @pytest.fixture
    def database():
        raise OSError("cannot log in with " + os.environ["DEMO_PASSWORD"])


    @check("demo.ok", phases=("active",))
    def check_ok(host):
        verdict(True, observed="", expected="", fix="")


    @check("demo.bad", phases=("active",))
    def check_bad(host):
        print("read", CFGLOC)
        verdict(False, observed="{SCRIPT} in /etc/xcat/cfgloc: " + CFGLOC + "\\nsecond line",
                expected="no script", fix="restore /etc/xcat/cfgloc")


    @check("demo.ssh", phases=("active",))
    def check_ssh(host):
        raise RuntimeError("ssh: connect to host 192.0.2.9 port 22: Connection refused ({CHECK_SECRET})")


    @check("demo.db", phases=("active",))
    def check_db(host, database):
        pass


    @check("demo.standby_only", phases=("standby",))
    def check_standby_only(host):
        pass
''')

CHECK_IDS = ("demo.ok", "demo.bad", "demo.ssh", "demo.db")


def run_checks(tmp: Path, *extra: str) -> SimpleNamespace:
    checks = tmp / "checks"
    checks.mkdir()
    (checks / "demo.py").write_text(CHECKS)
    secrets = tmp / "secrets"
    secrets.write_text(FILE_SECRET + "\n")
    secrets.chmod(0o600)
    out = tmp / "out"
    argv = [
        sys.executable, "-m", "pytest", str(checks / "demo.py"), "-o", "python_functions=check_*",
        "--rootdir", str(tmp), "-c", "/dev/null",
        "-p", "no:cacheprovider", "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder",
        "--hosts=local://", "--xcatha-node=xcatmn1", "--xcatha-phase=active",
        f"--xcatha-json={out}/run.json", f"--html={out}/run.html", "--self-contained-html",
        f"--junitxml={out}/run.xml", f"--xcatha-secrets-file={secrets}",
        "--xcatha-console", "-qq", "--no-header", "--no-summary", "--tb=short", "--color=no", "-p", "no:warnings",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "DEMO_PASSWORD": FILE_SECRET, "COLUMNS": "200"}
    proc = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=False)
    return SimpleNamespace(proc=proc, json=out / "run.json", html=out / "run.html", xml=out / "run.xml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    result = run_checks(tmp_path_factory.mktemp("report"), f"--xcatha-inventory={INVENTORY}")
    assert result.proc.returncode == 1, result.proc.stdout + result.proc.stderr
    return result


def documented_fields(section: str) -> set[str]:
    """The field names in the table under `## <section>` of docs/report-schema.md."""
    text = SCHEMA_DOC.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", body, re.MULTILINE))


def html_data(path: Path) -> dict:
    """pytest-html 4 keeps the report's data as JSON in the data-jsonblob attribute."""
    blob = re.search(r'data-jsonblob="(.*?)"', path.read_text(), re.DOTALL)
    assert blob is not None
    return json.loads(html.unescape(blob.group(1)))


# --- JSON ---------------------------------------------------------------------------------------------


def test_json_has_the_documented_fields(run):
    data = json.loads(run.json.read_text())
    assert set(data) == documented_fields("Run summary")
    assert set(data["environment"]) == documented_fields("Environment")
    for result in data["results"]:
        assert set(result) == documented_fields("Check result")


def test_json_summary_values(run):
    data = json.loads(run.json.read_text())
    assert data["schema_version"] == "2"
    assert (data["cluster"], data["node"], data["phase"]) == ("test", "xcatmn1", "active")
    assert data["inventory"] == str(INVENTORY)
    assert data["counts"] == {"passed": 1, "failed": 1, "error": 2, "blocked": 0, "skipped": 0}
    assert data["ready"] is False
    assert datetime.fromisoformat(data["started_at"]) <= datetime.fromisoformat(data["finished_at"])
    assert data["environment"]["hosts"] == "local://"
    assert data["environment"]["vip"]["address"] == "192.0.2.7"
    assert [n["name"] for n in data["environment"]["nodes"]] == ["xcatmn1", "xcatmn2"]
    assert stat.S_IMODE(run.json.stat().st_mode) == 0o644
    assert sorted(p.name for p in run.json.parent.iterdir()) == ["run.html", "run.json", "run.xml"]


def test_json_results(run):
    results = {r["check_id"]: r for r in json.loads(run.json.read_text())["results"]}
    assert sorted(results) == sorted(CHECK_IDS)
    assert {i: r["outcome"] for i, r in results.items()} == {
        "demo.ok": "passed", "demo.bad": "failed", "demo.ssh": "error", "demo.db": "error"}
    bad = results["demo.bad"]
    assert bad["observed"].startswith(f"{SCRIPT} in /etc/xcat/cfgloc: Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|{MASK}")
    assert (bad["expected"], bad["fix"], bad["message"]) == ("no script", "restore /etc/xcat/cfgloc", "")
    assert results["demo.ssh"]["message"] == (
        f"RuntimeError: ssh: connect to host 192.0.2.9 port 22: Connection refused ({MASK})")
    assert results["demo.db"]["message"] == f"OSError: cannot log in with {MASK}"
    for result in results.values():
        assert (result["node"], result["phase"]) == ("xcatmn1", "active")
        assert result["duration_s"] >= 0
        datetime.fromisoformat(result["started_at"])


# --- JUnit XML ----------------------------------------------------------------------------------------


def test_junit_properties(run):
    cases = {case.get("name"): case for case in ET.parse(run.xml).getroot().iter("testcase")}
    props = {name: {p.get("name"): p.get("value") for p in case.iter("property")} for name, case in cases.items()}
    assert props["check_ok[local]"] == {"check_id": "demo.ok"}
    bad = props["check_bad[local]"]
    assert bad["check_id"] == "demo.bad"
    assert bad["observed"].startswith(SCRIPT)
    assert (bad["expected"], bad["fix"]) == ("no script", "restore /etc/xcat/cfgloc")
    assert props["check_ssh[local]"]["message"].startswith("RuntimeError: ssh: connect")
    assert props["check_db[local]"]["check_id"] == "demo.db"
    assert "check_standby_only[local]" not in cases


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_title_and_environment(run):
    text = run.html.read_text()
    title = re.search(r"<h1 id=\"title\">(.*?)</h1>", text).group(1)
    assert re.fullmatch(r"xcatha-verify: test xcatmn1 active \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", title)
    env = html_data(run.html)["environment"]
    assert list(env) == ["Cluster", "Node", "Phase", "Inventory path", "VIP", "Nodes", "Services", "Shared data",
                         "Started at", "xcatha-verify version"]
    assert env["VIP"] == "192.0.2.7/24 on eth0 label eth0:0 (xcatmn.cluster.example)"
    assert env["Nodes"] == {"xcatmn1": "ssh://root@192.0.2.70, 192.0.2.70", "xcatmn2": "local, 192.0.2.5"}
    assert env["Services"].startswith("postgresql, xcatd")


def test_html_rows_and_verdict(run):
    data = html_data(run.html)
    rows = {test_id: tests[0]["resultsTableRow"] for test_id, tests in data["tests"].items()}
    checks = {re.search(r'class="col-testId">(.*?)</td>', cells[1]).group(1) for cells in rows.values()}
    assert checks == set(CHECK_IDS)
    assert {test_id.split("::")[-1] for test_id in rows} >= {"check_ok[local]", "check_bad[local]"}
    bad = next(cells for cells in rows.values() if "demo.bad" in cells[1])
    assert html.escape(SCRIPT) in bad[2] and "restore /etc/xcat/cfgloc" in bad[2]
    columns = [re.search(r'class="col-(\w+)"', cell).group(1) for cell in bad]
    assert columns == ["result", "testId", "detail", "duration"]
    # the blob is injected with innerHTML: no live tag may survive, in our cells or pytest-html's log
    assert "<script>alert" not in json.dumps(data)
    assert "<script>alert" not in run.html.read_text()
    assert ">NOT READY</h2>" in run.html.read_text()
    assert ">3 of 4 checks failed (2 could not run)</p>" in run.html.read_text()


# --- console ------------------------------------------------------------------------------------------


def test_console_each_check_and_a_failure_in_full(run):
    lines = [line for line in run.proc.stdout.splitlines() if line.strip()]
    check_lines_seen = [line for line in lines if re.match(r"(PASS|FAIL|ERROR|SKIP) ", line)]
    assert len(check_lines_seen) == len(CHECK_IDS)
    for check_id in CHECK_IDS:
        assert sum(f" {check_id} " in line for line in check_lines_seen) == 1
    assert re.match(r"PASS  demo\.ok +xcatmn1$", check_lines_seen[0])
    at = lines.index(next(line for line in lines if line.startswith("FAIL  demo.bad")))
    assert re.fullmatch(r"FAIL  demo\.bad +xcatmn1", lines[at])
    cfgloc = f"Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|{MASK}"
    assert lines[at + 1] == f"      observed: {SCRIPT} in /etc/xcat/cfgloc: {cfgloc}"
    assert lines[at + 2] == "                second line"
    assert lines[at + 3] == "      expected: no script"
    assert lines[at + 4] == "      fix:      restore /etc/xcat/cfgloc"
    ssh = lines.index(next(line for line in lines if line.startswith("ERROR demo.ssh")))
    assert lines[ssh + 1] == f"      RuntimeError: ssh: connect to host 192.0.2.9 port 22: Connection refused ({MASK})"
    assert "xcatmn1 active: 1 passed, 1 failed, 2 errors" in lines
    assert not any("Generated html report" in line for line in lines)
    assert lines[-1] == "xcatmn1 active: 1 passed, 1 failed, 2 errors"  # pytest's own lines are all gone
    assert "\x1b[" not in run.proc.stdout  # --color=no


def test_console_keeps_the_whole_fix_and_cuts_only_a_long_observed():
    fix = "f" * 300 + "\nsystemctl reload x"
    diff = "\n".join(f"line {n}" for n in range(40))
    lines = check_lines(CheckResult("x.y", "xcatmn1", "active", "failed", observed=diff, expected="e", fix=fix))
    assert lines[-2:] == ["      fix:      " + "f" * 300, "                systemctl reload x"]
    observed = [line for line in lines if "line " in line]
    assert len(observed) == OBSERVED_LINES
    assert f"({40 - OBSERVED_LINES} more lines in the HTML report)" in lines[OBSERVED_LINES + 1]
    painted = check_lines(CheckResult("x.y", "n", "active", "failed", observed="o", fix="f"), color=True)
    assert painted[0].startswith("\x1b[1;31mFAIL \x1b[0m x.y")
    assert check_lines(CheckResult("x.y", "n", "active", "passed", observed="o")) == [f"PASS  {'x.y':25} n"]


def test_recap_lists_the_failing_checks_the_blocked_and_the_unreachable():
    first = RunSummary("0.1.0", "c", "xcatmn1", "active", "", "", results=[
        CheckResult("a.ok", "xcatmn1", "active", "passed"),
        CheckResult("a.bad", "xcatmn1", "active", "failed", observed="seen\nmore", fix="do it"),
        CheckResult("a.err", "xcatmn1", "active", "error", message="OSError: no"),
        CheckResult("a.blocked", "xcatmn1", "active", "blocked", blocked_by="a.bad"),
    ])  # fmt: skip
    second = RunSummary.standing_in("xcatmn2", "active", unreachable="ssh: timed out")
    assert recap_lines([first, second]) == [
        "",
        "== recap: 2 failing checks, 1 blocked, 1 node unreachable",
        "FAIL  xcatmn1  a.bad  seen",
        "ERROR xcatmn1  a.err  OSError: no",
        "BLOCK xcatmn1  a.blocked (blocked by a.bad)",
        "UNREACHABLE xcatmn2  ssh: timed out",
    ]
    assert recap_lines([RunSummary("0.1.0", "c", "n", "active", "", "", results=[
        CheckResult("a.ok", "n", "active", "passed")])]) == []  # fmt: skip


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_color_choice():
    terminal, pipe = _Stream(True), _Stream(False)
    assert use_color("auto", terminal, {}) and not use_color("auto", pipe, {})
    assert not use_color("auto", terminal, {"NO_COLOR": "1"})
    assert use_color("auto", terminal, {"NO_COLOR": ""})  # only a non-empty NO_COLOR counts
    assert not use_color("auto", terminal, {"TERM": "dumb"})
    assert use_color("always", pipe, {"NO_COLOR": "1"}) and not use_color("never", terminal, {})
    with pytest.raises(ValueError, match="expected one of auto, always, never"):
        use_color("yes", terminal, {})


# --- secrets ------------------------------------------------------------------------------------------


def test_no_secret_in_any_output(run):
    outputs = {"stdout": run.proc.stdout, "stderr": run.proc.stderr}
    outputs.update({path.name: path.read_text() for path in (run.json, run.html, run.xml)})
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"
    assert MASK in outputs["run.xml"] and MASK in outputs["run.html"]


def test_redact():
    cfgloc = "mysql:dbname=xcatdb;host=h|xcatadmin|pw1 next"
    assert redact(cfgloc) == f"mysql:dbname=xcatdb;host=h|xcatadmin|{MASK} next"
    assert redact("no cfgloc | here | at all") == "no cfgloc | here | at all"
    register_secret("s3cr3t-unit-test")
    assert redact("a s3cr3t-unit-test b") == f"a {MASK} b"
    register_secret("")
    assert redact("unchanged") == "unchanged"


def test_run_summary_write_json(tmp_path):
    summary = RunSummary("0.1.0", "c", "n", "active", "2026-01-01T00:00:00+00:00", "inv.yml")
    summary.results.append(CheckResult("a.b", "n", "active", "passed"))
    target = tmp_path / "sub" / "run.json"
    summary.write_json(target)
    data = json.loads(target.read_text())
    assert data["ready"] is True and data["counts"]["passed"] == 1
    assert os.listdir(target.parent) == ["run.json"]


# --- without an inventory -----------------------------------------------------------------------------


def test_without_inventory_the_reports_are_still_written(tmp_path):
    result = run_checks(tmp_path)
    data = json.loads(result.json.read_text())
    assert (data["cluster"], data["inventory"]) == ("", "")
    assert "vip" not in data["environment"]
    assert data["counts"]["passed"] == 1
    assert result.html.exists() and result.xml.exists()


def test_two_runs_of_one_phase_in_the_same_second_keep_both_reports(tmp_path: Path) -> None:
    from xcatha_verify.inventory import load_inventory
    from xcatha_verify.runner import NodeRun, report_base

    inventory = load_inventory(str(Path(__file__).parent / "inventories" / "minimal.yml"))
    run = NodeRun(inventory.nodes[1], "post-activate")
    first = report_base(tmp_path, inventory, run, "20261202T191042")
    assert first.name == f"20261202T191042-{inventory.cluster}-{inventory.nodes[1].name}-post-activate"
    Path(f"{first}.json").write_text("{}")
    second = report_base(tmp_path, inventory, run, "20261202T191042")
    assert second.name == f"{first.name}-2"
    Path(f"{second}.html").write_text("")
    assert report_base(tmp_path, inventory, run, "20261202T191042").name == f"{first.name}-3"
