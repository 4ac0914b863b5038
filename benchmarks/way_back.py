"""Every point where a planned failover can stop, and the way back as printed.

For each phase of `xcatha-run failover`, on a terminal (a pseudo-terminal here), the operator answers
Yes until that phase and then presses Enter (No); and with --yes, a step that fails inside each phase
of the activation that has one to break on the target (FAILED_STEPS), and the unmount of the
deactivation refused on the source (FAILED_ON_SOURCE: the way back stops there too until the admin ends
what holds /install, as the failed step's output names it). Each time, the command the
"pair now" block printed (`go back to ...`, or the `confirm with` check when nothing moved) is run as
printed; it must end with the node that was active before active, `xcatha-verify drift` green and the
rows written before the failover still there. Prints one line per stop point and the totals; exit 1
when any point fails.

CI runs two of these points (tests/test_runbooks_lab.py); this runs all of them:

    .venv/bin/python benchmarks/way_back.py [all|no|failed|source]   # its own lab, named "wb"
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.observe import psql_via_vip
from tests.way_back import drift_verdict, printed, run_on_terminal, stop_before
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab import faults
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout
from xcatha_verify.runbook_engine import loading

BIN = Path(sys.executable).parent
NODES = ("xcatmn1", "xcatmn2")


def holder(lab: Lab) -> str:
    holders = [n for n in NODES if lab.holds_vip(n)]
    if len(holders) != 1:
        raise AssertionError(f"VIP holders: {holders}")
    return holders[0]


def psql(lab: Lab, sql: str) -> str:
    return psql_via_vip(lab, sql, from_node=next(n for n in NODES if n != holder(lab)))


def run_printed(argv: list[str]) -> tuple[int, str]:
    argv = [str(BIN / argv[0]), *argv[1:]]
    if "--yes" in argv or argv[1] != "failback":
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout + proc.stderr
    return run_on_terminal(argv, lambda phase: "y")


def _fstab_source_gone(lab: Lab, node: str, undo: bool) -> None:
    """Test equipment: /install's fstab line names a source that does not exist (`mount /install` fails)."""
    script = ("mv /etc/fstab.way-back /etc/fstab" if undo else
              "cp /etc/fstab /etc/fstab.way-back && sed -i 's|^[^ ]* /install |/no-such-export /install |' /etc/fstab")
    lab.run(node, ["sh", "-c", script])


def _masked(unit: str) -> Callable[[Lab, str, bool], None]:
    """A unit masked on the node (an admin's leftover): `systemctl start` refuses it."""
    return lambda lab, node, undo: lab.run(node, ["systemctl", "unmask" if undo else "mask", unit])


def _fault(name: str) -> Callable[[Lab, str, bool], None]:
    return lambda lab, node, undo: (faults.repair if undo else faults.inject)(lab, name, node)


# A failed step inside each phase of the activation, caused on the target (what the way back lets go of;
# a cause on the old active node would stop its own re-activation the same way until it is mended).
FAILED_STEPS: dict[str, Callable[[Lab, str, bool], None]] = {
    "shared data: mount /install fails": _fstab_source_gone,
    "database: postgresql fails to start": _fault("pg-cannot-start"),
    "xcatd: xcatd masked": _masked("xcatd"),
    "services: named masked": _masked("named"),
}


def _hold_install(lab: Lab, node: str) -> Callable[[], None]:
    """An admin's shell left in /install on the active node (test equipment: a sleep with its cwd there), so
    `umount /install` is refused as busy; the returned call ends it (by its PID), as the admin would."""
    pid = lab.run(node, ["sh", "-c", "cd /install && { setsid sleep 900 </dev/null >/dev/null 2>&1 & echo $!; }"])

    def end_it() -> None:
        lab.run(node, ["kill", pid.stdout.strip()], check=False)

    return end_it


# A failed step inside a deactivation phase, caused on the node being deactivated: its re-activation (the
# way back) deactivates it first and stops at the same step until the cause is mended; mended, the printed
# command brings it back. Of the deactivation's steps only the unmount fails on a sound node (a stop or
# disable that fails, or a VIP that cannot be deleted, needs a broken systemd or kernel).
FAILED_ON_SOURCE: dict[str, Callable[[Lab, str], Callable[[], None]]] = {
    "disconnect: /install busy (source)": _hold_install,
}


def stop_point(lab: Lab, reports: Path, case: str, stop_at: str | None) -> str:
    """One stop and the way back; the result line."""
    source = holder(lab)
    target = next(n for n in NODES if n != source)
    inventory = str(lab.layout.inventory)
    psql(lab, "CREATE TABLE IF NOT EXISTS way_back_rows (token text)")
    token = "".join(c if c.isalnum() else "-" for c in case)  # test data of our own: no quote reaches SQL
    psql(lab, f"INSERT INTO way_back_rows VALUES ('{token}-{time.time_ns()}')")  # noqa: S608
    rows = psql(lab, "SELECT token FROM way_back_rows ORDER BY token")
    failover = [str(BIN / "xcatha-run"), "failover", "--from", source, "--to", target, "--inventory", inventory,
                "--report-dir", str(reports)]  # fmt: skip
    started = time.monotonic()
    problems: list[str] = []
    again_screen = ""
    if case in FAILED_ON_SOURCE:
        mend = FAILED_ON_SOURCE[case](lab, source)
        try:
            proc = subprocess.run([*failover, "--yes"], capture_output=True, text=True, timeout=900,
                                  stdin=subprocess.DEVNULL)  # fmt: skip
            status, screen = proc.returncode, proc.stdout
            stopped = time.monotonic() - started
            if "is held by:" not in screen:
                problems.append("the failed unmount did not say who holds /install")
            again, again_screen = run_printed(printed(screen, f"go back to {source}"))
            if again != 1 or "is held by:" not in again_screen:
                problems.append(f"the way back before the mend exited {again}, not 1 at the same step")
        finally:
            mend()
        back_status, back_screen = run_printed(printed(again_screen or screen, f"go back to {source}"))
    elif stop_at is None:  # a failed step, broken on the target
        breakage = FAILED_STEPS[case]
        breakage(lab, target, False)
        try:
            proc = subprocess.run([*failover, "--yes"], capture_output=True, text=True, timeout=900,
                                  stdin=subprocess.DEVNULL)  # fmt: skip
            status, screen = proc.returncode, proc.stdout
            stopped = time.monotonic() - started
            back = printed(screen, f"go back to {source}")
            back_status, back_screen = run_printed(back)
        finally:
            breakage(lab, target, True)
    else:
        status, screen = run_on_terminal(failover, stop_before(stop_at))
        stopped = time.monotonic() - started
        if "nothing moved since the run started" in screen:
            confirm = screen.split("confirm with: ", 1)[1].splitlines()[0].split()
            back_status, back_screen = run_printed(confirm)
        else:
            back_status, back_screen = run_printed(printed(screen, f"go back to {source}"))
    went_back = time.monotonic() - started - stopped
    serving = next((line.split(": ", 1)[1].split(" (")[0] for line in screen.splitlines() if "served by" in line), "?")
    if status != 1:
        problems.append(f"the stopped run exited {status}")
    if back_status != 0:
        problems.append(f"the way back exited {back_status}: {back_screen[-400:]}")
    if holder(lab) != source:
        problems.append(f"{holder(lab)} holds the VIP, not {source}")
    if psql(lab, "SELECT token FROM way_back_rows ORDER BY token") != rows:
        problems.append("rows differ")
    verdict, _ = drift_verdict(BIN, inventory, reports / "drift")
    if verdict != "green":
        problems.append(f"drift: {verdict}")
    verdict = "OK  " if not problems else "FAIL"
    return (f"{verdict} {case:<34} stopped after {stopped:5.1f} s, served by {serving:<11} way back "
            f"{went_back:5.1f} s" + (f"  ({'; '.join(problems)})" if problems else ""))  # fmt: skip


def main() -> int:
    layout = LabLayout(name="wb")
    lab = Lab(layout)
    lab.up()
    results: list[str] = []
    try:
        inventory = load_inventory(str(layout.inventory))
        source = holder(lab)
        target = next(n for n in NODES if n != source)
        phases = [p.name for p in loading.load_for("failover", inventory, inventory.node(target)).phases]
        only = sys.argv[1] if len(sys.argv) > 1 else "all"  # all, no (the No points), failed (the failed steps), source
        cases = [(f"No before {phase!r}", phase) for phase in phases] if only in ("all", "no") else []
        cases += [(case, None) for case in FAILED_STEPS] if only in ("all", "failed") else []
        cases += [(case, None) for case in FAILED_ON_SOURCE] if only in ("all", "failed", "source") else []
        with tempfile.TemporaryDirectory(prefix="way-back-") as reports:
            for case, stop_at in cases:
                line = stop_point(lab, Path(reports), case, stop_at)
                results.append(line)
                print(line, flush=True)
    finally:
        lab.down()
    failed = [r for r in results if r.startswith("FAIL")]
    print(json.dumps({"stop_points": len(results), "restored": len(results) - len(failed)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
