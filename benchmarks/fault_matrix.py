"""Benchmark: a planned failover stopped inside every one of its steps, or at every step boundary, then resumed.

Run as root: `.venv/bin/python benchmarks/fault_matrix.py [kill|interrupt|kill-after] [STEP-SUBSTRING]`.
Brings up a lab named by XCATHA_BENCH_LAB (default "bench"), writes a row through the VIP, and for each
step of the planned failover (the step names come from one clean run) starts `xcatha-run failover` in the
direction the pair can go, stops it, then runs `--resume`. `kill` (SIGKILL: the run records nothing more)
and `interrupt` (SIGINT: Ctrl-C, which the run records) stop it the moment the journal shows that step
running: inside the step, and so inside its phase. `kill-after` SIGKILLs it the moment the journal shows
that step ended (ok or skipped), before the next step or gate begins: at the step boundary after it (the
last step of a phase: between the phase and its gate after). Per case it prints: finished (the resume exit
0), one VIP holder (the intended node), rows lost (of every row written through the VIP so far, how many
the database no longer has), and drift green. Takes the lab down. It asserts nothing.

A case that did not finish is followed by a plain failover with --break-lock, so the next case
starts from a working pair (and said so in the output).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.way_back import drift_verdict
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import DB_NAME, DB_USER, LabLayout

BIN = Path(sys.executable).parent
NODES = ("xcatmn1", "xcatmn2")


def _xrun(lab: Lab, report_dir: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "xcatha-run"), *args, "--yes", "--inventory", str(lab.layout.inventory), "--report-dir",
            report_dir]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)


def _psql(lab: Lab, sql: str) -> str:
    """SQL through the VIP, from whichever node does not hold it (its static IP is in pg_hba.conf)."""
    standby = next(n for n in NODES if not lab.holds_vip(n))
    conninfo = f"host={lab.layout.vip} dbname={DB_NAME} user={DB_USER} connect_timeout=5"
    script = f'PGPASSWORD="$(cat)" exec psql -X -A -t -v ON_ERROR_STOP=1 "{conninfo}" -c "$1"'
    return lab.run(standby, ["sh", "-c", script, "psql", sql], input_text=lab.db_password).stdout.strip()


def _steps(report_dir: Path) -> list[dict[str, object]]:
    journals = list(report_dir.glob("*/journal.json"))
    try:
        return list(json.loads(journals[0].read_text())["steps"]) if journals else []
    except ValueError:  # written atomically; never half a file, but a read may race a rename
        return []


def _stop_inside(
    lab: Lab, source: str, target: str, step: str, how: signal.Signals, report_dir: Path,
    when: tuple[str, ...] = ("running",),
) -> tuple[bool, int | None]:  # fmt: skip
    """Start the failover and signal it when `step`'s record has a status in `when` (running: inside it;
    ok or skipped: right after it); (whether it was caught there, its exit status)."""
    proc = subprocess.Popen(
        [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
         str(lab.layout.inventory), "--report-dir", str(report_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        # As on a terminal: a benchmark started in the background inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    caught = False
    while proc.poll() is None:
        if any(s["name"] == step and s["status"] in when for s in _steps(report_dir)):
            proc.send_signal(how)
            caught = True
            break
        time.sleep(0.003)
    proc.wait(timeout=600)
    return caught, proc.returncode


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "kill"
    how = signal.SIGINT if mode == "interrupt" else signal.SIGKILL
    when = ("ok", "skipped") if mode == "kill-after" else ("running",)
    where = "right after" if mode == "kill-after" else "inside"
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    lab = Lab(LabLayout(name=os.environ.get("XCATHA_BENCH_LAB", "bench")))
    lab.up()
    try:
        _psql(lab, "CREATE TABLE fault_matrix (case_number int)")
        with tempfile.TemporaryDirectory() as clean:
            first = _xrun(lab, clean, "failover", "--from", "xcatmn1", "--to", "xcatmn2")
            names = [str(s["name"]) for s in json.loads(next(Path(clean).glob("*/journal.json")).read_text())["steps"]]
        print(f"{how.name} {where} each of the {len(names)} steps of a planned failover (clean run: exit "
              f"{first.returncode}), then --resume")  # fmt: skip
        source, target = "xcatmn2", "xcatmn1"
        results = []
        for written, step in enumerate((n for n in names if only in n), start=1):
            _psql(lab, f"INSERT INTO fault_matrix VALUES ({written:d})")  # noqa: S608 - an int, nothing to quote
            report_dir = Path(tempfile.mkdtemp(prefix="fault-matrix-"))
            caught, status = _stop_inside(lab, source, target, step, how, report_dir, when)
            resumed = _xrun(lab, str(report_dir), "failover", "--from", source, "--to", target, "--resume")
            holders = [n for n in NODES if lab.holds_vip(n)]
            finished = resumed.returncode == 0 and holders == [target]
            if not finished:  # back to a working pair for the next case
                _xrun(lab, str(report_dir), "failover", "--from", source, "--to", target, "--break-lock")
            lost = written - int(_psql(lab, "SELECT count(*) FROM fault_matrix") or 0)
            with tempfile.TemporaryDirectory() as drift_dir:
                verdict, _ = drift_verdict(BIN, lab.layout.inventory, Path(drift_dir))
            results.append(finished and lost == 0 and verdict == "green")
            holder = "yes" if holders == [target] else holders
            print(f"  {step[:58]:<58} stopped {where}: {'yes' if caught else 'NO (run ended first)'}, exit {status}; "
                  f"finished: {'yes' if finished else 'NO'}, one VIP holder: {holder}, rows lost: {lost}, "
                  f"drift: {verdict}", flush=True)
            source, target = target, source
        print(f"{sum(results)} of {len(results)} cases finished with nothing lost and drift green")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
