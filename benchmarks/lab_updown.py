"""Benchmark: wall time of `xcatha-lab up` and `down` (targets: up < 10 s, down < 8 s on 2 cores).

Run as root: `.venv/bin/python benchmarks/lab_updown.py [ROUNDS]`. Each round builds a lab (two nodes
booting the real systemd, the database on the shared storage, xcatmn1 activated by the activate
runbook's steps) and takes it down; `down` is timed until nothing of the lab is left (no node
process, cgroup, namespace, mount or state file: `Lab.leftovers()` empty). Prints one line per round
and the best/median figures; it asserts nothing (targets are read by a person, not by CI). The lab
name is XCATHA_BENCH_LAB (default "bench").
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    name = os.environ.get("XCATHA_BENCH_LAB", "bench")
    ups, downs = [], []
    for i in range(rounds):
        lab = Lab(LabLayout(name=name))
        try:
            ups.append(lab.up())
        finally:
            start = time.monotonic()
            lab.down()
            left = lab.leftovers()
            downs.append(time.monotonic() - start)
        print(f"round {i + 1}: up {ups[-1]:5.2f}s  down {downs[-1]:5.2f}s" + (f"  LEFT: {left}" if left else ""),
              flush=True)  # fmt: skip
    print(f"up:   best {min(ups):.2f}s  median {statistics.median(ups):.2f}s  (target < 10 s)")
    print(f"down: best {min(downs):.2f}s  median {statistics.median(downs):.2f}s  (target < 8 s)")


if __name__ == "__main__":
    main()
