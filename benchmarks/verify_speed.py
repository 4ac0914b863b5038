"""Benchmark: `xcatha-verify --all pre-activate` on the lab, reused SSH connections vs one per command.

Run as root: `.venv/bin/python benchmarks/verify_speed.py [ROUNDS]`. It brings a lab named
"bench" up, times the phase on both nodes as shipped (one SSH connection per node, reused by
every command, nodes in parallel) and again with SSH multiplexing disabled (`ControlPath none`:
a fresh connection for every command), prints both and their ratio (target: at least 5x), and
takes the lab down. It asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout

VERIFY = str(Path(sys.executable).parent / "xcatha-verify")


def _timed(inventory: Path, report_dir: str) -> float:
    start = time.monotonic()
    subprocess.run([VERIFY, "--inventory", str(inventory), "--all", "pre-activate", "--report-dir", report_dir,
                    "--format", "json"], capture_output=True, check=False)  # fmt: skip
    return time.monotonic() - start


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    lab = Lab(LabLayout(name="bench"))
    lab.up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # The same inventory, but ssh without multiplexing: one connection per command.
            config = Path(tmp) / "ssh_config"
            config.write_text(lab.layout.ssh_config.read_text().replace("ControlPath ", "ControlPath none\n#"))
            data = yaml.safe_load(lab.layout.inventory.read_text())
            data["ssh_config"] = str(config)
            fresh = Path(tmp) / "inventory.yml"
            fresh.write_text(yaml.safe_dump(data))
            _timed(lab.layout.inventory, tmp)  # warm-up: imports, page cache
            reused = [_timed(lab.layout.inventory, tmp) for _ in range(rounds)]
            per_command = [_timed(fresh, tmp) for _ in range(rounds)]
    finally:
        lab.down()
    a, b = statistics.median(reused), statistics.median(per_command)
    print(f"pre-activate, both nodes, reused connections:  median {a:.2f}s  {[round(x, 2) for x in reused]}")
    print(f"pre-activate, both nodes, connection per command: median {b:.2f}s  {[round(x, 2) for x in per_command]}")
    print(f"ratio: {b / a:.1f}x (target: at least 5x)")


if __name__ == "__main__":
    main()
