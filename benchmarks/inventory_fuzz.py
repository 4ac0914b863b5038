"""Benchmark: hostile inventory files through the real commands (issue 15).

    .venv/bin/python benchmarks/inventory_fuzz.py [N=300] [SEED=15]

Runs N cases of the seeded fuzzer (tests/inventory_fuzz.py: mutations of tests/inventories/*.yml) and the
files that are not regular or too big (a FIFO, /dev/zero, a directory, a 2 MiB file, a symlink to /dev/zero)
one after the other. A file the loader refuses goes through `xcatha-verify --inventory F --list` and
`xcatha-run activate --inventory F --dry-run --node xcatmn1` in turn (each in its own network namespace when
root, stopped after 10 s); a file it accepts only through `--list`, which then exits 0. Prints one line per
case, the number of one-line exit-2 refusals, the cases accepted and the slowest case's time. It asserts
nothing, but exits 1 when any case gave a traceback, more than one line, another exit status or no answer.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import inventory_fuzz as fuzz


def _judge(number: int, name: str, path: Path) -> tuple[str, float]:
    """('refused' | 'accepted' | why it failed, seconds) for one file."""
    refused = bool(fuzz.load_outcome(path))
    argv = fuzz.commands(path)[number % 2 if refused else 0]
    started = time.monotonic()
    try:
        proc = fuzz.run_command(argv)
    except subprocess.TimeoutExpired:
        return f"FAILED: no answer within {fuzz.GUARD_S} s", time.monotonic() - started
    took = time.monotonic() - started
    if not refused:
        ok = proc.returncode == 0 and not proc.stderr
        return "accepted" if ok else f"FAILED: accepted in process, exit {proc.returncode}: {proc.stderr[:200]!r}", took
    problem = fuzz.refusal_problem(proc, path)
    return ("refused" if problem is None else f"FAILED: {problem}"), took


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 300
    seed = int(argv[2]) if len(argv) > 2 else 15
    root = Path(tempfile.mkdtemp(prefix="xcatha-inventory-fuzz-"))
    files: list[tuple[str, Path]] = []
    for case in fuzz.cases(seed, count):
        directory = root / case.name[:3]
        directory.mkdir()
        files.append((case.name, fuzz.write(case, directory)))
    specials = root / "special"
    specials.mkdir()
    files += [(f"special: {name}", path) for name, path in fuzz.special_files(specials).items()]
    print(f"inventory fuzz: {count} cases from seed {seed} and {len(files) - count} special files, "
          f"{'each command in its own network namespace' if fuzz.ISOLATED else 'not root: no network namespace'}")
    tally = {"refused": 0, "accepted": 0, "failed": 0}
    slowest = (0.0, "")
    for number, (name, path) in enumerate(files):
        verdict, took = _judge(number, name, path)
        tally["failed" if verdict.startswith("FAILED") else verdict] += 1
        slowest = max(slowest, (took, name))
        print(f"{took:6.2f}s  {verdict:8.200}  {name}")
    print(f"\n{len(files)} files: {tally['refused']} refused in one line with exit status 2, {tally['accepted']} "
          f"accepted (valid mutations), {tally['failed']} failed; slowest {slowest[0]:.2f}s ({slowest[1]})")
    return 1 if tally["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
