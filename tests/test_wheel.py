"""An installed wheel finds its checks, runbooks and lab files from any working directory.

checks/ and runbooks/ live at the top of the repository and ship as ``xcatha_verify.checks`` and
``xcatha_verify.runbooks``; the lab's templates and schema ship as package data. This builds a wheel
from a clean copy of the source (no stale build/ tree can leak into it), installs it with its
dependencies into a fresh virtual environment that does not see the repository, and runs the
installed ``xcatha-verify`` from ``/``.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
INSTALL_TIMEOUT = 300
# Not part of the source a wheel is built from.
NOT_SOURCE = (".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".ruff_cache", ".mypy_cache",
              ".pytest_cache", "reports", "tests", ".ci")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    names: frozenset[str]
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _env() -> dict[str, str]:
    """The environment minus anything that would let the fresh venv see the repository or .venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(argv: list[str], *, cwd: Path | str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _build_wheel(src: Path, out: Path) -> Path:
    """Build offline with what .venv has; the second form serves when pip's lacks a needed piece."""
    attempts = [
        [PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        [PYTHON, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check", "--outdir", str(out),
         str(src)],
    ]
    failures = []
    for argv in attempts:
        proc = _run(argv, cwd=out.parent)
        wheels = sorted(out.glob("xcatha_verify-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[-1]
        failures.append(_explain(proc))
    pytest.fail("could not build a wheel (run scripts/setup.sh first):\n" + "\n\n".join(failures))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_SOURCE), symlinks=True)
    wheel = _build_wheel(src, tmp / "dist")
    with zipfile.ZipFile(wheel) as zf:
        names = frozenset(zf.namelist())

    venv = tmp / "venv"
    proc = _run([PYTHON, "-m", "venv", str(venv)], cwd=tmp)
    assert proc.returncode == 0, _explain(proc)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    proc = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp,
                timeout=INSTALL_TIMEOUT)
    assert proc.returncode == 0, _explain(proc)
    return Installed(wheel, names, venv)


def test_wheel_ships_checks_runbooks_and_lab_files(installed: Installed) -> None:
    names = installed.names
    checks = sorted(p.name for p in (ROOT / "checks").glob("*.py"))
    assert "vip.py" in checks, "checks/ has no check modules"
    for name in checks:
        assert f"xcatha_verify/checks/{name}" in names, f"checks/{name} missing from {installed.wheel.name}"

    runbooks = sorted(p.name for p in (ROOT / "runbooks").iterdir() if p.suffix in (".py", ".yml"))
    assert "__init__.py" in runbooks
    for name in runbooks:
        assert f"xcatha_verify/runbooks/{name}" in names, f"runbooks/{name} missing from {installed.wheel.name}"

    templates = sorted(p.name for p in (ROOT / "xcatha_verify" / "lab" / "templates").glob("*.j2"))
    assert templates, "xcatha_verify/lab/templates has no *.j2"
    for name in templates:
        assert f"xcatha_verify/lab/templates/{name}" in names, f"template {name} missing from the wheel"
    assert "xcatha_verify/lab/standins/goconserver.py" in names  # the lab's one stand-in

    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(installed.wheel) as zf:
        scripts = zf.read(entry_points).decode()
    for command in ("xcatha-verify", "xcatha-run", "xcatha-lab"):
        assert f"{command} = " in scripts


def test_installed_command_lists_checks_from_root(installed: Installed) -> None:
    where = _run([str(installed.bin / "python"), "-c", "import xcatha_verify.checks as c; print(c.__path__[0])"],
                 cwd="/")
    assert where.returncode == 0, _explain(where)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), "imported from outside the fresh venv"

    help_ = _run([str(installed.bin / "xcatha-verify"), "--help"], cwd="/")
    assert help_.returncode == 0, _explain(help_)
    assert "usage: xcatha-verify" in help_.stdout

    listing = _run([str(installed.bin / "xcatha-verify"), "--list", "active"], cwd="/")
    assert listing.returncode == 0, _explain(listing)
    for check_id in ("vip.present", "services.disabled_at_boot"):
        assert check_id in listing.stdout, f"{check_id} not listed:\n{listing.stdout}"
