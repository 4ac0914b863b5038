"""Benchmark: `pre-activate` on both lab nodes, as shipped vs two baselines.

Run as root: `.venv/bin/python benchmarks/verify_speed.py [ROUNDS]`. It brings a lab up (named by
XCATHA_BENCH_LAB, default "bench") and times the phase on both nodes
- as shipped: `xcatha-verify --all`: one SSH connection per node reused by every command, the
  nodes in parallel, each command's output shared by the checks that need it;
- the naive way: the same checks, node after node, a fresh SSH connection for every command
  (`ControlPath none`) and no output shared between checks (XCATHA_UNSHARED_FACTS=1);
- plain testinfra: the same checks written as a user would in plain pytest-testinfra
  (benchmarks/plain_testinfra/test_pre_activate.py), one `python -m pytest` for both nodes, node
  after node, one command per property read over testinfra's reused connection (ControlMaster);
then prints the three medians and the shipped run's speed-up over each baseline (targets: at least
10x over a fresh connection per command, at least 3x over plain testinfra) and takes the lab down.
It asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from xcatha_verify.inventory import Inventory, load_inventory
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout

VERIFY = str(Path(sys.executable).parent / "xcatha-verify")
PLAIN_TESTS = Path(__file__).resolve().parent / "plain_testinfra" / "test_pre_activate.py"
LAB_NAME = os.environ.get("XCATHA_BENCH_LAB", "bench")


def _timed(inventory: Path, report_dir: str, naive: bool = False) -> float:
    common = ["--inventory", str(inventory), "pre-activate", "--report-dir", report_dir, "--format", "json"]
    env = {**os.environ, "XCATHA_UNSHARED_FACTS": "1"} if naive else None
    start = time.monotonic()
    for target in (["--node", "xcatmn1"], ["--node", "xcatmn2"]) if naive else (["--all"],):
        subprocess.run([VERIFY, *target, *common], capture_output=True, check=False, env=env)
    return time.monotonic() - start


def _plain_testinfra_argv(inventory: Inventory) -> list[str]:
    """One pytest run of the plain-testinfra checks over both nodes, as a user would start it."""
    hosts = ",".join(node.target for node in inventory.nodes)
    # -c/--rootdir: the repository's pytest settings are for its own test suite, not for this file.
    return [sys.executable, "-m", "pytest", str(PLAIN_TESTS), "-c", os.devnull, "--rootdir", str(PLAIN_TESTS.parent),
            "-p", "no:cacheprovider", "-q", f"--hosts={hosts}", f"--ssh-config={inventory.ssh_config}"]  # fmt: skip


def _timed_plain(argv: list[str], site: Path) -> float:
    env = {**os.environ, "XCATHA_BENCH_SITE": str(site)}
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    elapsed = time.monotonic() - start
    if proc.returncode not in (0, 1):  # 0/1: the checks ran (passed or not); anything else: they did not
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print(f"note: plain testinfra run exited {proc.returncode}: {' | '.join(tail)}", file=sys.stderr)
    return elapsed


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    lab = Lab(LabLayout(name=LAB_NAME))
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
            # The plain tests' vars file: the lab's inventory with every default filled in.
            inventory = load_inventory(str(lab.layout.inventory))
            site = Path(tmp) / "site.json"
            site.write_text(json.dumps(inventory.to_dict(), default=str))
            plain_argv = _plain_testinfra_argv(inventory)
            # Each connection-reusing variant gets one untimed run first (imports, page cache), so its
            # timed runs all find the ssh masters that testinfra's ControlPersist keeps up between runs.
            _timed(lab.layout.inventory, tmp)
            reused = [_timed(lab.layout.inventory, tmp) for _ in range(rounds)]
            per_command = [_timed(fresh, tmp, naive=True) for _ in range(rounds)]
            _timed_plain(plain_argv, site)
            plain = [_timed_plain(plain_argv, site) for _ in range(rounds)]
    finally:
        lab.down()
    shipped, naive, plain_median = statistics.median(reused), statistics.median(per_command), statistics.median(plain)
    print(f"pre-activate, both nodes, as shipped:      median {shipped:.2f}s  {[round(x, 2) for x in reused]}")
    print(f"pre-activate, both nodes, naive:           median {naive:.2f}s  {[round(x, 2) for x in per_command]}")
    print(f"pre-activate, both nodes, plain testinfra: median {plain_median:.2f}s  {[round(x, 2) for x in plain]}")
    print(f"ratio against a fresh connection per command: {naive / shipped:.1f}x (target: at least 10x)")
    print(f"ratio against plain testinfra:                {plain_median / shipped:.1f}x (target: at least 3x)")


if __name__ == "__main__":
    main()
