"""Benchmark: wall time of `xcatha-lab up` and `down` (targets: up < 15 s, down < 5 s on 2 cores).

Run as root: `.venv/bin/python benchmarks/lab_updown.py [ROUNDS]`. Prints one line per round and
the best/median figures; it asserts nothing (targets are read by a person, not by CI).
"""

from __future__ import annotations

import statistics
import sys

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    ups, downs = [], []
    for i in range(rounds):
        lab = Lab(LabLayout(name="bench"))
        try:
            ups.append(lab.up())
        finally:
            downs.append(lab.down())
        print(f"round {i + 1}: up {ups[-1]:5.2f}s  down {downs[-1]:5.2f}s", flush=True)
    print(f"up:   best {min(ups):.2f}s  median {statistics.median(ups):.2f}s  (target < 15 s)")
    print(f"down: best {min(downs):.2f}s  median {statistics.median(downs):.2f}s  (target < 5 s)")


if __name__ == "__main__":
    main()
