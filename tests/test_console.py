"""xcatha-verify's console as an admin sees it: the real command on the `local://` node of the minimal inventory.

It runs the standby checks of hosts.py and vip.absent on this machine (no lab): /etc/hosts here maps
none of the inventory's names, so the hosts checks fail whatever else the machine has. What the
checks found is read back from the run's JSON summary, so the recap is compared with the truth, not
with a list written here. On a pseudo-terminal (os.openpty) the console has colour; piped, or with
NO_COLOR, none; --color=always colours a pipe too.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.way_back import read_until

ROOT = Path(__file__).resolve().parents[1]
VERIFY = str(Path(sys.executable).with_name("xcatha-verify"))
INVENTORY = ROOT / "tests" / "inventories" / "minimal.yml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SELECTION = "hosts or vip_absent"


def argv(report_dir: Path, *extra: str) -> list[str]:
    return [VERIFY, "--inventory", str(INVENTORY), "--node", "xcatmn2", "standby", "-k", SELECTION,
            "--report-dir", str(report_dir), *extra]  # fmt: skip


def environ(**changes: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS")}
    return {**env, "TERM": "xterm", "COLUMNS": "200", **changes}


def on_a_terminal(report_dir: Path, **env: str) -> tuple[int, str]:
    main_fd, terminal = os.openpty()
    try:
        proc = subprocess.Popen(argv(report_dir), stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
                                env=environ(**env))  # fmt: skip
        os.close(terminal)
        screen = read_until(main_fd, lambda _: False, timeout=120)  # until the program closes the terminal
        return proc.wait(timeout=60), screen.replace("\r\n", "\n")
    finally:
        os.close(main_fd)


def piped(report_dir: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv(report_dir, *extra), capture_output=True, text=True, env=environ(**env), timeout=120,
                          check=False)  # fmt: skip


def failing_in(report_dir: Path) -> list[str]:
    (summary,) = report_dir.glob("*.json")
    results = json.loads(summary.read_text())["results"]
    return [r["check_id"] for r in results if r["outcome"] in ("failed", "error")]


@pytest.fixture(scope="module")
def terminal_run(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("console-tty")
    status, screen = on_a_terminal(report_dir)
    return status, screen, report_dir


def test_a_terminal_gets_colour(terminal_run):
    status, screen, _ = terminal_run
    assert status == 1, screen
    assert "\x1b[1;31mFAIL \x1b[0m hosts." in screen
    assert "\x1b[32mPASS \x1b[0m vip.absent" in screen


def test_the_recap_lists_exactly_the_failing_checks_then_one_line_per_report(terminal_run):
    _, screen, report_dir = terminal_run
    lines = ANSI.sub("", screen).rstrip("\n").splitlines()
    failing = failing_in(report_dir)
    assert failing and all(check_id.startswith("hosts.") for check_id in failing)
    recap = lines[lines.index(next(line for line in lines if line.startswith("== recap: "))):]
    assert recap[0] == f"== recap: {len(failing)} failing checks"
    listed = [line.split()[2] for line in recap[1:] if re.match(r"(FAIL|ERROR) ", line)]
    assert listed == failing
    assert all(line.split()[1] == "xcatmn2" for line in recap[1:1 + len(failing)])
    reports = recap[1 + len(failing):]
    assert [Path(line.removeprefix("report: ")).suffix for line in reports] == [".html", ".xml", ".json"]
    assert all(Path(line.removeprefix("report: ")).parent == report_dir for line in reports)
    assert "Generated html report" not in screen


def test_each_failure_shows_observed_expected_and_fix(terminal_run):
    _, screen, _ = terminal_run
    lines = ANSI.sub("", screen).splitlines()
    at = lines.index(next(line for line in lines if line.startswith("FAIL  hosts.vip_entry")))
    assert lines[at + 1].startswith("      observed: 192.0.2.7 maps to: ")
    assert lines[at + 2] == "      expected: 192.0.2.7 xcatmn.cluster.example xcatmn"
    fix = "add the line '192.0.2.7 xcatmn.cluster.example xcatmn' to /etc/hosts on both nodes"
    assert lines[at + 3] == f"      fix:      {fix}"


def test_no_colour_on_a_terminal_with_no_color(tmp_path):
    status, screen = on_a_terminal(tmp_path, NO_COLOR="1")
    assert status == 1, screen
    assert "FAIL  hosts." in screen and "\x1b[" not in screen


def test_no_colour_when_piped_unless_asked(tmp_path):
    proc = piped(tmp_path / "plain")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  hosts." in proc.stdout and "== recap: " in proc.stdout
    assert "\x1b[" not in proc.stdout + proc.stderr
    assert "Generated html report" not in proc.stdout
    forced = piped(tmp_path / "forced", "--color=always", NO_COLOR="1")
    assert "\x1b[1;31mFAIL \x1b[0m hosts." in forced.stdout
