"""ssh ProxyCommand for the lab: joins the lab's switch namespace and relays stdin/stdout to HOST:PORT.

The lab's ssh_config runs ``nsenter --net=/run/netns/<switch> python -m xcatha_verify.lab.relay %h %p``
so that ``ssh``, testinfra and xcatha-verify reach lab nodes from the machine's ordinary shell while
the root namespace's routing stays untouched.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys


def relay(host: str, port: int) -> int:
    try:
        conn = socket.create_connection((host, port), timeout=5)
    except OSError as exc:
        print(f"xcatha-lab relay: cannot connect to {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 255
    conn.settimeout(None)
    # ssh sends small packets and waits for answers: Nagle plus delayed ACKs would add ~40 ms to each.
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(stdin, selectors.EVENT_READ, "in")
    sel.register(conn, selectors.EVENT_READ, "sock")
    open_sides = 2
    while open_sides:
        for key, _ in sel.select():
            if key.data == "in":
                data = os.read(stdin, 65536)
                if data:
                    conn.sendall(data)
                else:  # ssh closed its side: half-close so the server sees EOF
                    sel.unregister(stdin)
                    conn.shutdown(socket.SHUT_WR)
                    open_sides -= 1
            else:
                data = conn.recv(65536)
                if not data:
                    return 0
                while data:
                    data = data[os.write(stdout, data) :]
    return 0


def main() -> None:
    if len(sys.argv) != 3:
        print("usage: python -m xcatha_verify.lab.relay HOST PORT", file=sys.stderr)
        sys.exit(2)
    sys.exit(relay(sys.argv[1], int(sys.argv[2])))


if __name__ == "__main__":
    main()
