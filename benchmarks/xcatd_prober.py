"""Table reads against xcatd every 100 ms around a failover's outage: the probes of benchmarks/failover_gates.py.

Run by failover_gates.py inside the lab's switch namespace (the lab's admin workstation):

    nsenter --net=/run/netns/<switch ns> python benchmarks/xcatd_prober.py GO_FILE OLD_ADDRESS VIP CERT_DIR

A read is one `tabdump site` to xcatd at ADDRESS:3001 in xcatd's own protocol
(`xcatha_verify.xcatclient`: TLS with root's client certificate from CERT_DIR, what
`XCATHOST=ADDRESS:3001 tabdump site` sends). A read is ok when xcatd answered rc 0 and the site
table's rows came back; refused, timed out (TIMEOUT_S for the whole read) or an error reply is not ok.

The reads are sparse on purpose: one answered by the real xcatd costs the node about 0.18 s of CPU
(xcatd forks a child per request), so reading every 100 ms all along would take most of a 2-core
machine and slow the very run it measures. Nothing is read until GO_FILE exists (failover_gates.py
creates it when the step two before the old node's `stop xcatd` starts). Then, every 100 ms: the old
node's static IP, until a read of it fails after one of it was answered; from then on the VIP, until
a read of it is answered. A failed read costs xcatd nothing. Each read runs in its own thread, so one
hanging until its timeout does not delay the next tick.

Output: one JSON line per read on stdout, `{"target": "old"|"vip", "sent": EPOCH, "answered": EPOCH,
"ok": BOOL, "detail": STR}`, times from time.time(). It stops on SIGTERM, after the reads in flight.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from xcatha_verify import xcatclient

XCATD_PORT = 3001
PERIOD_S = 0.1
TIMEOUT_S = 1.0
GO_POLL_S = 0.01


class Probes:
    """Which address the next tick reads, moved on by the reads' outcomes (they finish out of order)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.target = "old"
        self.old_answered = False
        self.done = False  # the VIP answered: the outage's end is known

    def record(self, name: str, sent: float, ok: bool, detail: str) -> None:
        line = json.dumps({"target": name, "sent": sent, "answered": time.time(), "ok": ok, "detail": detail})
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()
            if name == "old" and ok:
                self.old_answered = True
            elif name == "old" and self.old_answered:
                self.target = "vip"
            elif name == "vip" and ok and self.target == "vip":
                self.done = True


def read_once(probes: Probes, name: str, address: str, certs: Path) -> None:
    sent = time.time()
    try:
        answer = xcatclient.request("tabdump", ["site"], endpoint=f"{address}:{XCATD_PORT}", cert_dir=certs,
                                    timeout_s=TIMEOUT_S)  # fmt: skip
        ok, detail = answer.rc == 0 and len(answer.data) > 1, f"rc {answer.rc}, {len(answer.data)} lines"
    except xcatclient.XcatdUnreachable as exc:
        ok, detail = False, str(exc)
    except (OSError, ValueError) as exc:  # OSError: refused, unreachable, timed out; ValueError: a bad reply
        ok, detail = False, type(exc).__name__
    probes.record(name, sent, ok, detail)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        sys.stderr.write("usage: xcatd_prober.py GO_FILE OLD_ADDRESS VIP CERT_DIR\n")
        return 2
    go_file, addresses = Path(argv[0]), {"old": argv[1], "vip": argv[2]}
    certs = Path(argv[3])
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    while not go_file.exists() and not stopping.is_set():
        stopping.wait(GO_POLL_S)
    probes = Probes(sys.stdout)
    in_flight: list[threading.Thread] = []
    first_tick = time.monotonic()
    tick = 0
    while not stopping.is_set():
        with probes.lock:
            target = None if probes.done else probes.target
        if target is not None:
            reader = threading.Thread(target=read_once, args=(probes, target, addresses[target], certs), daemon=True)
            reader.start()
            in_flight.append(reader)
        in_flight = [t for t in in_flight if t.is_alive()]
        tick += 1
        # Ticks on a fixed grid, so a slow tick does not shift every later one.
        stopping.wait(max(0.0, first_tick + tick * PERIOD_S - time.monotonic()))
    for reader in in_flight:
        reader.join(timeout=TIMEOUT_S + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
