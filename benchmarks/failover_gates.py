"""Benchmark: a planned failover on the lab, its wall time and the share of it spent in gates.

Run as root: `.venv/bin/python benchmarks/failover_gates.py [ROUNDS]`. Brings up a lab named
"bench", runs `xcatha-run failover` xcatmn1 -> xcatmn2 and back ROUNDS times, and prints for each
run the wall time, the time in gates (from the run's journal) and their share (target: gates at
most 10% of the total), then each gate's time. Takes the lab down. It asserts nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout

RUN = str(Path(sys.executable).parent / "xcatha-run")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    lab = Lab(LabLayout(name="bench"))
    lab.up()
    shares = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pairs = [("xcatmn1", "xcatmn2"), ("xcatmn2", "xcatmn1")] * rounds
            for source, target in pairs:
                start = time.monotonic()
                proc = subprocess.run(
                    [RUN, "failover", "--from", source, "--to", target, "--yes", "--inventory",
                     str(lab.layout.inventory), "--report-dir", tmp], capture_output=True, text=True, check=False,
                )  # fmt: skip
                wall = time.monotonic() - start
                journal = json.loads(max(Path(tmp).glob("*/journal.json"), key=lambda p: p.stat().st_mtime).read_text())
                gates = sum(g.get("duration_s") or 0 for g in journal["gates"])
                steps = sum(s.get("duration_s") or 0 for s in journal["steps"])
                shares.append(gates / wall)
                print(f"{source} -> {target}: exit {proc.returncode}, wall {wall:.1f}s, steps {steps:.1f}s, "
                      f"gates {gates:.1f}s ({len(journal['gates'])} gates, {100 * gates / wall:.0f}% of the total)")
                for gate in journal["gates"]:
                    print(f"    gate {gate['when']:<6} {gate['phase']:<22} on {gate['node']}: "
                          f"{gate.get('duration_s') or 0:5.2f}s  {','.join(gate['checks'])}")
    finally:
        lab.down()
    print(f"gate share: best {100 * min(shares):.0f}%, worst {100 * max(shares):.0f}% (target: at most 10%)")


if __name__ == "__main__":
    main()
