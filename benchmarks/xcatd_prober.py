"""Table reads against xcatd every 100 ms, one loop per address: the probes of benchmarks/failover_gates.py.

Run by failover_gates.py inside the lab's switch namespace (the lab's admin workstation):
`nsenter --net=/run/netns/<switch ns> python benchmarks/xcatd_prober.py NAME=ADDRESS ...`. Every 100 ms,
for each NAME, it sends one `tabdump site` to xcatd at ADDRESS:3001 with the lab's own client
(`xcatha_verify.lab.standins.commands.call`, what `XCATHOST=ADDRESS:3001 tabdump site` does) and writes
one JSON line per read to stdout: `{"target": NAME, "sent": EPOCH, "answered": EPOCH, "ok": BOOL,
"detail": STR}`, times from time.time(). A read is ok when xcatd answered it with rc 0 (the table came
back); refused, timed out (0.5 s to connect, 0.5 s for the reply) or an error reply is not ok. Each read
runs in its own thread, so one hanging until its timeout (no host behind the address yet) does not
delay the next tick. It stops on SIGTERM, after the reads in flight ended.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import TextIO

from xcatha_verify.lab.standins import commands

XCATD_PORT = 3001
PERIOD_S = 0.1
TIMEOUT_S = 0.5
# call() reads its timeouts from these module constants at each call; the client's defaults (10 s to
# connect, 600 s for a reply) are for make* commands and would make a dead server look merely slow.
commands.CONNECT_TIMEOUT = TIMEOUT_S
commands.REPLY_TIMEOUT = TIMEOUT_S


def read_once(name: str, address: str, out: TextIO, out_lock: threading.Lock) -> None:
    sent = time.time()
    try:
        reply = commands.call("tabdump", ["site"], (address, XCATD_PORT))
        ok, detail = reply.get("rc") == 0, f"rc {reply.get('rc')}"
    except (OSError, ValueError) as exc:  # OSError: refused, unreachable, timed out; ValueError: not JSON
        ok, detail = False, type(exc).__name__
    answered = time.time()
    line = json.dumps({"target": name, "sent": sent, "answered": answered, "ok": ok, "detail": detail})
    with out_lock:
        out.write(line + "\n")
        out.flush()


def main(argv: list[str]) -> int:
    targets = [arg.split("=", 1) for arg in argv]
    if not targets or any(len(t) != 2 for t in targets):
        sys.stderr.write("usage: xcatd_prober.py NAME=ADDRESS [NAME=ADDRESS ...]\n")
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    out_lock = threading.Lock()
    in_flight: list[threading.Thread] = []
    first_tick = time.monotonic()
    tick = 0
    while not stopping.is_set():
        for name, address in targets:
            reader = threading.Thread(target=read_once, args=(name, address, sys.stdout, out_lock), daemon=True)
            reader.start()
            in_flight.append(reader)
        in_flight = [t for t in in_flight if t.is_alive()]
        tick += 1
        # Ticks on a fixed grid, so a slow tick does not shift every later one.
        stopping.wait(max(0.0, first_tick + tick * PERIOD_S - time.monotonic()))
    for reader in in_flight:
        reader.join(timeout=2 * TIMEOUT_S + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
