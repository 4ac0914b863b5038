"""Thin clients of the xcatd stand-in (lab test equipment, not xCAT).

Run as ``python -m xcatha_verify.lab.standins.commands NAME [ARGS...]``; the lab installs one
``/usr/local/sbin/NAME`` shell wrapper per command. Like real xCAT commands they do no work of
their own: they send ``{"command": NAME, "args": ARGS, "cwd": CWD}`` as one JSON line to xcatd
at ``$XCATHOST`` (``host:port``, default ``localhost:3001``), print the reply's stdout and
stderr and exit with its rc. When xcatd cannot be reached they print xCAT's
``Connection failure`` error and exit 1. An unknown NAME prints the usage and exits 1.
"""

from __future__ import annotations

import json
import os
import socket
import sys

COMMANDS = ("lsdef", "tabdump", "chdef", "lsxcatd", "makedns", "makedhcp", "makeconservercf", "makegocons")
DEFAULT_XCATHOST = "localhost:3001"
CONNECT_TIMEOUT = 10.0
REPLY_TIMEOUT = 600.0  # make* commands restart services


def usage() -> str:
    return ("Usage: python -m xcatha_verify.lab.standins.commands COMMAND [ARGS...]\n"
            f"COMMAND is one of: {', '.join(COMMANDS)}\n"
            f"xcatd is reached at $XCATHOST (host:port, default {DEFAULT_XCATHOST}).\n")


def parse_xcathost(value: str) -> tuple[str, int]:
    """``host:port``, ``host`` or ``[v6addr]:port`` -> (host, port); ValueError when malformed."""
    host, port = value, "3001"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"XCATHOST {value!r} is not host:port")
    return host, int(port)


def call(command: str, args: list[str], address: tuple[str, int]) -> dict[str, object]:
    """Send one request to xcatd and return its reply. Raises OSError when xcatd is unreachable."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    request = json.dumps({"command": command, "args": args, "cwd": cwd}).encode() + b"\n"
    with socket.create_connection(address, timeout=CONNECT_TIMEOUT) as sock:
        sock.settimeout(REPLY_TIMEOUT)
        sock.sendall(request)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise ValueError("reply is not a JSON object")
    return reply


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    host = socket.gethostname()
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(usage())
        return 1
    try:
        address = parse_xcathost(os.environ.get("XCATHOST") or DEFAULT_XCATHOST)
    except ValueError as exc:
        sys.stderr.write(f"Error: [{host}]: {exc}\n")
        return 1
    try:
        reply = call(argv[0], argv[1:], address)
    except ValueError:
        sys.stderr.write(f"Error: [{host}]: xcatd sent a reply that is not valid JSON.\n")
        return 1
    except OSError as exc:
        # Real xCAT reports the connect error of Perl's IO::Socket::INET, e.g. "Connection refused".
        reason = "Connection refused" if isinstance(exc, ConnectionRefusedError) else exc.strerror or str(exc)
        sys.stderr.write(f"Error: [{host}]: Connection failure: IO::Socket::INET: connect: {reason}\n")
        return 1
    sys.stdout.write(str(reply.get("stdout", "")))
    sys.stderr.write(str(reply.get("stderr", "")))
    rc = reply.get("rc", 1)
    return rc if isinstance(rc, int) else 1


if __name__ == "__main__":
    sys.exit(main())
