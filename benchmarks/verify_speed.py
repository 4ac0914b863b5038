"""Benchmark: `pre-activate` on both lab nodes, as shipped vs the naive way.

Run as root: `.venv/bin/python benchmarks/verify_speed.py [ROUNDS]`. It brings a lab named
"bench" up and times the phase on both nodes
- as shipped: `xcatha-verify --all`: one SSH connection per node reused by every command, the
  nodes in parallel, each command's output shared by the checks that need it;
- the naive way: the same checks, node after node, a fresh SSH connection for every command
  (`ControlPath none`) and no output shared between checks (XCATHA_UNSHARED_FACTS=1);
then prints both and their ratio (target: at least 5x) and takes the lab down. It asserts nothing.
"""

from __future__ import annotations

import os
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


def _timed(inventory: Path, report_dir: str, naive: bool = False) -> float:
    common = ["--inventory", str(inventory), "pre-activate", "--report-dir", report_dir, "--format", "json"]
    env = {**os.environ, "XCATHA_UNSHARED_FACTS": "1"} if naive else None
    start = time.monotonic()
    for target in (["--node", "xcatmn1"], ["--node", "xcatmn2"]) if naive else (["--all"],):
        subprocess.run([VERIFY, *target, *common], capture_output=True, check=False, env=env)
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
            per_command = [_timed(fresh, tmp, naive=True) for _ in range(rounds)]
    finally:
        lab.down()
    a, b = statistics.median(reused), statistics.median(per_command)
    print(f"pre-activate, both nodes, as shipped: median {a:.2f}s  {[round(x, 2) for x in reused]}")
    print(f"pre-activate, both nodes, naive:      median {b:.2f}s  {[round(x, 2) for x in per_command]}")
    print(f"ratio: {b / a:.1f}x (target: at least 5x)")


if __name__ == "__main__":
    main()
