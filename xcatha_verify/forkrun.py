"""One node's check run in a child forked from the warm ``xcatha-verify`` process.

The child reaches its node, runs pytest with the imports the parent already made, and hands back
how it ended (pytest's exit status, or why the node could not be reached) in a file of its own;
its output goes to files too, so no pipe can fill up. It leaves through ``os._exit``: none of the
parent's exit handlers runs twice.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

import pytest

from xcatha_verify.errors import NodeUnreachable
from xcatha_verify.inventory import Inventory
from xcatha_verify.targets import ensure_reachable

if TYPE_CHECKING:
    from xcatha_verify.runner import NodeRun


@dataclass
class ChildOutcome:
    proc: subprocess.CompletedProcess[str]
    unreachable: str = ""  # why the node could not be reached; the run did not start


@dataclass
class Child:
    """One node's check run in a forked child: its output goes to files (no pipe to fill up), and how
    it ended (pytest's exit status, or why the node was unreachable) to a file of its own."""

    run: NodeRun
    pid: int
    pidfd: int
    files: tuple[IO[bytes], IO[bytes], IO[bytes]]  # stdout, stderr, how it ended
    base: Path
    summary_json: Path

    @classmethod
    def fork(cls, inventory: Inventory, run: NodeRun, args: list[str], base: Path, summary_json: Path) -> Child:
        # Closed by close(), which the caller reaches whatever happens.
        files = (tempfile.TemporaryFile(), tempfile.TemporaryFile(), tempfile.TemporaryFile())  # noqa: SIM115
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child_main(inventory, run, args, files)
        return cls(run, pid, os.pidfd_open(pid), files, base, summary_json)

    def collect(self) -> ChildOutcome:
        _, wait_status = os.waitpid(self.pid, 0)
        status = os.waitstatus_to_exitcode(wait_status)
        out, err, ended = (read_back(f) for f in self.files)
        record = json.loads(ended) if ended else {}
        if record.get("pytest_status") == pytest.ExitCode.INTERRUPTED:
            raise KeyboardInterrupt
        proc = subprocess.CompletedProcess(args=[], returncode=record.get("pytest_status", status), stdout=out,
                                           stderr=err)  # fmt: skip
        return ChildOutcome(proc, record.get("unreachable", ""))

    def close(self) -> None:
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):  # still running (Ctrl-C): it got the SIGINT too
                os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.pidfd)
        for f in self.files:
            f.close()


def child_main(inventory: Inventory, run: NodeRun, args: list[str], files: tuple[IO[bytes], ...]) -> NoReturn:
    """The forked child: reach the node, run pytest, record how it ended, leave without the parent's exit handlers."""
    out, err, ended = files
    record: dict[str, object] = {"pytest_status": 70}  # EX_SOFTWARE: pytest itself raised
    try:
        os.dup2(out.fileno(), 1)  # what anything writes to the descriptors goes to the files too
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
        try:
            ensure_reachable(inventory, run.node)
        except NodeUnreachable as exc:
            record = {"unreachable": str(exc)}
        else:
            record = {"pytest_status": int(pytest.main(args))}
    except BaseException:  # the child must reach os._exit whatever happened
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
            ended.write(json.dumps(record).encode())
            ended.flush()
        os._exit(0)


def read_back(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")
