"""Benchmark: wall time of `xcatha-lab up` and `down` (targets: up < 20 s with a warm cache; down < 8 s;
on 2 cores).

Run as root: `.venv/bin/python benchmarks/lab_updown.py [ROUNDS]`. Each round builds a lab (two nodes
booting the real systemd, the database on the shared storage, xcatmn1 activated by the activate
runbook's steps) and takes it down; `down` is timed until nothing of the lab is left (no node
process, cgroup, namespace, mount or state file: `Lab.leftovers()` empty). Prints one line per round
and the best/median figures, and each node's memory after the first `up` (PSS and RSS summed over the
processes of the node's cgroup, from /proc/PID/smaps_rollup); it asserts nothing (targets are read
by a person, not by CI). The lab name is XCATHA_BENCH_LAB (default "bench"); its xCAT 2.19 tree
comes from the cache `xcatha-lab cache` shows (built first when the cache is empty). The first round
is cold: the kept set-up of the layout (lab/snapshot.py) is removed before it, so that round runs
xCAT's one-time set-up and keeps it again; the others are warm. Both figures are printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from xcatha_verify.lab import snapshot
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import NODE_NAMES, LabLayout
from xcatha_verify.lab.node import cgroup_pids


def memory(lab: Lab, node: str) -> tuple[int, float, float]:
    """(processes, PSS MB, RSS MB) of the node's cgroup."""
    pss = rss = 0
    pids = cgroup_pids(lab.machines[node].cgroup)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # ended meanwhile
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in ("Pss", "Rss"):
                kb = int(value.split()[0])
                pss, rss = (pss + kb, rss) if key == "Pss" else (pss, rss + kb)
    return len(pids), pss / 1024, rss / 1024


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    name = os.environ.get("XCATHA_BENCH_LAB", "bench")
    ups, downs = [], []
    for i in range(rounds):
        lab = Lab(LabLayout(name=name))
        if i == 0:
            snapshot.path_for(lab.layout).unlink(missing_ok=True)
        try:
            ups.append(lab.up())
            if i == 0:
                for node in NODE_NAMES:
                    count, pss, rss = memory(lab, node)
                    print(f"{node} after up: {count} processes, {pss:.0f} MB PSS, {rss:.0f} MB RSS", flush=True)
        finally:
            start = time.monotonic()
            lab.down()
            left = lab.leftovers()
            downs.append(time.monotonic() - start)
        print(f"round {i + 1}: up {ups[-1]:5.2f}s  down {downs[-1]:5.2f}s" + (f"  LEFT: {left}" if left else ""),
              flush=True)  # fmt: skip
    warm = ups[1:] or ups
    print(f"up, cold (xCAT's set-up made and kept): {ups[0]:.2f}s")
    print(f"up, warm (the kept set-up unpacked): best {min(warm):.2f}s  median {statistics.median(warm):.2f}s  "
          "(target < 20 s)")
    print(f"down: best {min(downs):.2f}s  median {statistics.median(downs):.2f}s  (target < 8 s)")


if __name__ == "__main__":
    main()
