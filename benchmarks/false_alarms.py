"""Benchmark: false alarms of the checks on a healthy pair, in steady state and at every moment of a failover.

Run as root: `.venv/bin/python benchmarks/false_alarms.py [N]` (default 20). Brings up a lab named by
XCATHA_BENCH_LAB (default "falarm") running xCAT 2.19 itself, and N times:

- with xcatmn1 active: `active` on xcatmn1, `standby` on xcatmn2, `drift` on both (each node by its
  role), `pre-deactivate` on xcatmn1;
- a planned failover to xcatmn2 (`xcatha-run failover`: every transition phase's gate runs its checks
  at its moment: pre-deactivate, post-deactivate, pre-activate, post-activate and the step gates);
- the same with the roles swapped, ending with the failover back to xcatmn1.

Every red is printed: a check that failed, errored or was blocked (with its observed value), a gate
that did not pass (advisory ones included), a run that did not end with exit 0. The pair is healthy
throughout, so each of them is a false alarm. It prints the count of judgements and of reds per kind,
takes the lab down and exits 1 when there was any red (CI runs it with N=2, `.ci/run`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout

BIN = Path(sys.executable).parent
RED = ("failed", "error", "blocked")


def _verify(lab: Lab, report_dir: Path, *args: str) -> tuple[int, list[str]]:
    """One xcatha-verify run: (checks judged, the reds as lines)."""
    out = report_dir / f"verify-{len(list(report_dir.iterdir()))}"
    argv = [str(BIN / "xcatha-verify"), "--inventory", str(lab.layout.inventory), *args, "--report-dir", str(out),
            "--format", "json"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    judged, reds = 0, []
    for path in sorted(out.rglob("*.json")):
        summary = json.loads(path.read_text())
        for result in summary.get("results", []):  # latest.json and run.json (drift's history) have none
            judged += 1
            if result["outcome"] in RED:
                reds.append(f"{' '.join(args)}: {summary['node']} {result['check_id']} {result['outcome']}: "
                            f"{result.get('observed') or result.get('blocked_by') or result.get('message')}")
    if proc.returncode != 0 and not reds:
        reds.append(f"{' '.join(args)}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return judged, reds


def _failover(lab: Lab, report_dir: Path, source: str, target: str) -> tuple[int, list[str], float]:
    """A planned failover: (gates run, the reds as lines, its seconds)."""
    out = report_dir / f"failover-{source}-{target}-{len(list(report_dir.iterdir()))}"
    argv = [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--yes", "--inventory",
            str(lab.layout.inventory), "--report-dir", str(out)]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    seconds = time.monotonic() - started
    journals = sorted(out.glob("*/journal.json"))
    gates = json.loads(journals[-1].read_text())["gates"] if journals else []
    reds = [f"failover {source}->{target}: gate {g['when']} {g['phase']} on {g['node']} {g['status']}: "
            + "; ".join(f"{f['check_id']} {f.get('outcome', 'failed')}: {f.get('observed', '')}" for f in g["failing"])
            + (f" (unreachable: {g['unreachable']})" if g.get("unreachable") else "")
            for g in gates if g["status"] != "passed"]  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-300:]
        reds.append(f"failover {source}->{target}: exit {proc.returncode}: {tail}")
    return len(gates), reds, seconds


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    lab = Lab(LabLayout(name=os.environ.get("XCATHA_BENCH_LAB", "falarm")))
    lab.up()
    judged = gates = 0
    reds: list[str] = []
    durations: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="false-alarms-") as scratch:
            report_dir = Path(scratch)
            for number in range(1, rounds + 1):
                for active, standby in (("xcatmn1", "xcatmn2"), ("xcatmn2", "xcatmn1")):
                    for args in (("--node", active, "active"), ("--node", standby, "standby"), ("drift",),
                                 ("--node", active, "pre-deactivate")):  # fmt: skip
                        count, found = _verify(lab, report_dir, *args)
                        judged, reds = judged + count, reds + [f"round {number}: {line}" for line in found]
                    count, found, seconds = _failover(lab, report_dir, active, standby)
                    gates, durations = gates + count, [*durations, seconds]
                    reds += [f"round {number}: {line}" for line in found]
                print(f"round {number}/{rounds}: {len(reds)} red so far", flush=True)
    finally:
        lab.down()
    for line in reds:
        print(f"  RED {line}")
    print(f"{rounds} rounds: {judged} check results in steady state and before deactivation, {len(durations)} "
          f"planned failovers with {gates} gates ({min(durations):.1f}-{max(durations):.1f} s each): "
          f"{len(reds)} red")  # fmt: skip
    return 1 if reds else 0


if __name__ == "__main__":
    sys.exit(main())
