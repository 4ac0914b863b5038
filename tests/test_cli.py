"""The three commands as a person types them: each command's own help, --version, and every usage mistake
one line on stderr with exit status 2, the real problem named first (issue 14). No node is touched:
each mistake is refused before anything is asked of one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from xcatha_verify import __version__

BIN = Path(sys.executable).parent
MINIMAL = str(Path(__file__).resolve().parent / "inventories" / "minimal.yml")


# Each command runs in a network namespace of its own (no route anywhere): a mistake that were not refused
# in time could not reach the inventory's addresses.
ISOLATED = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []


def run(*argv: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ISOLATED, *(user or []), str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False,
                          cwd=tempfile.mkdtemp(prefix="xcatha-cli-"))  # a run that went wrong writes no reports here


@pytest.mark.parametrize(("argv", "has", "has_not"), [
    (("xcatha-run", "deactivate", "--help"), ["--node", "examples:", "xcatha-run deactivate --node", "exit status:"],
     ["--from", "--to", "--fenced", "--unplanned"]),
    (("xcatha-run", "failover", "--help"), ["--from", "--to", "--unplanned", "--fenced", "examples:", "130"],
     ["--node"]),
    (("xcatha-run", "failback", "--help"), ["--to", "xcatha-run failback --to"], ["--from", "--node"]),
    (("xcatha-run", "--help"), ["deactivate", "failback", "COMMAND --help", "exit status:"], []),
    (("xcatha-verify", "drift", "--help"), ["--keep-days", "pair.same_storage", "history", "exit status:"],
     ["--check ID"]),
    (("xcatha-verify", "pre-activate", "--help"), ["vip.free_on_network", "pair.peer_deactivated", "--check"],
     ["pg.accepting"]),
    (("xcatha-verify", "--help"), ["PHASE --help", "pre-activate", "--check", "exit status:"], []),
    (("xcatha-lab", "fault", "--help"), ["inject a fault", "xcatha-lab fault pg-cannot-start"], ["fault a fault"]),
])  # fmt: skip
def test_each_command_and_phase_has_its_own_help(argv: tuple[str, ...], has: list[str], has_not: list[str]) -> None:
    proc = run(*argv)
    assert proc.returncode == 0, proc.stderr
    for text in has:
        assert text in proc.stdout, (text, proc.stdout)
    for text in has_not:
        assert text not in proc.stdout, (text, proc.stdout)


@pytest.mark.parametrize("program", ["xcatha-verify", "xcatha-run", "xcatha-lab"])
def test_version(program: str) -> None:
    proc = run(program, "--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"{program} {__version__}")


@pytest.mark.parametrize(("argv", "says"), [
    # The unknown node first, although a piped run would also be refused for want of a terminal.
    (("xcatha-run", "deactivate", "--node", "xcatmn9", "--inventory", MINIMAL), "unknown node 'xcatmn9'"),
    (("xcatha-run", "failover", "--to", "xcatmn2", "--inventory", MINIMAL), "failover needs --from NODE"),
    (("xcatha-run", "failover", "--from", "xcatmn1", "--to", "xcatmn2", "--fenced"), "--fenced goes with --unplanned"),
    (("xcatha-run", "--inventroy", MINIMAL, "failover", "--to", "xcatmn2"), "did you mean --inventory?"),
    (("xcatha-run", "failover", "--to", "xcatmn2", "--inventroy", MINIMAL), "did you mean --inventory?"),
    (("xcatha-run", "deactivate", "--to", "xcatmn2"), "--to does not go with this command; it goes with: failover"),
    (("xcatha-run", "failovr", "--to", "xcatmn2"), "did you mean failover?"),
    (("xcatha-run", "failback"), "required: --to"),
    (("xcatha-verify", "--inventroy", MINIMAL, "active"), "did you mean --inventory?"),
    (("xcatha-verify", "--inventory", MINIMAL, "activ"), "did you mean active?"),
    (("xcatha-verify", "--inventory", MINIMAL, "--node", "xcatmn1", "active", "--check", "pg.hbx"),
     "did you mean pg.hba?"),
    (("xcatha-verify", "--inventory", MINIMAL, "--node", "xcatmn2", "standby", "--check", "pg.hba"),
     "not a check of standby"),
    (("xcatha-verify", "--inventory", MINIMAL, "drift", "--check", "vip.present"), "--check goes with a phase"),
    (("xcatha-verify", "--inventory", MINIMAL, "--all", "active", "--check", "vip.present"), "name the node"),
    (("xcatha-lab", "--nmae", "x", "up"), "did you mean --name?"),
])  # fmt: skip
def test_a_usage_mistake_is_one_line_naming_it_and_exit_2(argv: tuple[str, ...], says: str) -> None:
    proc = run(*argv)
    assert proc.returncode == 2, proc
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert says in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to run as nobody")
@pytest.mark.parametrize("argv", [("status",), ("fault", "pg-cannot-start", "xcatmn1"), ("down",)])
def test_the_lab_without_root_is_one_line(argv: tuple[str, ...]) -> None:
    proc = run("xcatha-lab", *argv, user=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "needs root" in proc.stderr


CHECKS = textwrap.dedent('''
    from xcatha_verify.checkkit import check, verdict


    @check("demo.hba", phases=("active",))
    def check_hba(host):
        verdict(True, observed="", expected="", fix="")


    @check("demo.vip", phases=("active",))
    def check_vip(host):
        verdict(True, observed="", expected="", fix="")
''')


@pytest.mark.parametrize(("expression", "ran"), [("demo.hba", ["demo.hba"]), ("not demo.hba", ["demo.vip"]),
                                                 ("check_vip", ["demo.vip"])])  # fmt: skip
def test_k_matches_the_check_ids(tmp_path: Path, expression: str, ran: list[str]) -> None:
    (tmp_path / "demo.py").write_text(CHECKS)
    argv = [sys.executable, "-m", "pytest", str(tmp_path / "demo.py"), "-o", "python_functions=check_*",
            "--rootdir", str(tmp_path), "-c", os.devnull, "-p", "no:cacheprovider",
            "-p", "xcatha_verify.pytest_checks", "-p", "xcatha_verify.report.recorder", "--hosts=local://",
            "--xcatha-node=xcatmn1", "--xcatha-phase=active", f"--xcatha-inventory={MINIMAL}",
            f"--xcatha-json={tmp_path}/run.json", "-qq", "-k", expression]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["check_id"] for r in json.loads((tmp_path / "run.json").read_text())["results"]] == ran
