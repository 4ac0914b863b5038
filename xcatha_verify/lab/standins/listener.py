"""A daemon stand-in that holds a PID and a TCP port and answers with its name (lab test equipment).

Used where no Debian package provides the daemon (goconserver). It accepts connections, writes
one line naming itself and closes; SIGTERM ends it. That is all the checks may rely on.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listener")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - listens on the node, like the daemon it stands in for
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with socket.create_server((args.bind, args.port), reuse_port=False) as server:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(f"{args.name} (lab stand-in)\n".encode())


if __name__ == "__main__":
    main()
