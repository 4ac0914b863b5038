"""An operator at a terminal, for the lab tests and benchmarks/way_back.py: xcatha-run on a pseudo-terminal,
each phase's question answered as a callback decides, and the commands the "pair now" block printed.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

QUESTION = re.compile(r"Run phase '([^']+)' on (\S+) now\? \[y/N/d\] ")


def run_on_terminal(argv: list[str], answer: Callable[[str], str], timeout: float = 600) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal; at each phase's question type ``answer(phase)``. (exit status, screen)."""
    main_fd, terminal = os.openpty()
    proc = subprocess.Popen(
        argv, stdin=terminal, stdout=terminal, stderr=terminal,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    os.close(terminal)
    screen, answered, deadline = "", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:  # the program closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk.decode(errors="replace")
                questions = QUESTION.findall(screen)
                if len(questions) > answered:
                    os.write(main_fd, (answer(questions[-1][0]) + "\n").encode())
                    answered = len(questions)
            elif proc.poll() is not None:
                break
        else:
            raise AssertionError(f"{shlex.join(argv)} still running after {timeout:.0f} s; it showed:\n{screen}")
        return proc.wait(timeout=30), screen.replace("\r\n", "\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main_fd)


def read_until(fd: int, done: Callable[[str], bool], timeout: float = 120) -> str:
    """What a terminal shows until ``done(what it showed)`` or the program closes it (the pty's other side)."""
    seen, deadline = "", time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"gave up waiting; the terminal showed:\n{seen[-3000:]}"
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536).decode(errors="replace")
            except OSError:  # the program closed the terminal
                break
    return seen


def printed(screen: str, label: str) -> list[str]:
    """The argv of the command the pair-now block printed after `label` (``go back to xcatmn1``, ``continue``)."""
    found = re.findall(rf"^  {re.escape(label)}: (.+)$", screen, re.M)
    assert found, f"no {label!r} line on the screen:\n{screen}"
    return shlex.split(found[-1])


def stop_before(phase: str) -> Callable[[str], str]:
    """Yes to every phase until `phase`; Enter (the default, No) there."""
    return lambda asked: "" if asked == phase else "y"


def drift_verdict(bin_dir: Path, inventory: Path | str, report_dir: Path) -> tuple[str, str]:
    """`xcatha-verify drift` on the pair: (the verdict latest.json records, its console). Exit 0 alone is not
    green: a run that found a failover's lock also exits 0, with verdict `in-progress`."""
    proc = subprocess.run([str(bin_dir / "xcatha-verify"), "--inventory", str(inventory), "drift", "--report-dir",
                           str(report_dir)], capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    latest = report_dir / "latest.json"
    verdict = json.loads(latest.read_text())["verdict"] if latest.is_file() else "none"
    return (verdict if proc.returncode == 0 else f"{verdict} (exit {proc.returncode})"), proc.stdout + proc.stderr
