"""A small client of xcatd's own protocol, for reading tables: what `tabdump` asks, without Perl.

xCAT's clients (`xCAT::Client::submit_request`) open TLS to xcatd (XCATHOST, else localhost:3001)
with the user's certificate and key from `~/.xcat/client-cred.pem`, verify the daemon against
`~/.xcat/ca.pem` (not its name), send one `<xcatrequest>` and read `<xcatresponse>` elements until
one holds `<serverdone>`. This module does the same for a request with plain arguments. It exists
because a Perl client costs about 0.1 s of CPU to start, and the checks read two tables per run on
a 2-core node beside everything else; the daemon does the same work for either client.

    python -m xcatha_verify.xcatclient tabdump site networks

prints one JSON object per request, in order: {"request", "rc", "data", "errors", "complete"},
`data` being the lines `tabdump` would print. Exit status 0 when every request got to serverdone,
2 for bad usage, 3 when xcatd could not be reached (the reason on stderr).
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from html import escape as _html_escape
from pathlib import Path

DEFAULT_ENDPOINT = "localhost:3001"
TIMEOUT_S = 8.0
# XML 1.0 allows none of these; xcatd passes command output through unescaped (Client.pm swaps ESC).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class XcatdUnreachable(Exception):
    """No TLS session with xcatd (refused, timed out, certificates rejected)."""


@dataclass
class XcatdAnswer:
    request: str
    rc: int = 0
    data: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = False  # the daemon said serverdone; False: the answer was cut short


def escape(text: str) -> str:
    return _html_escape(text, quote=False)


def request_xml(command: str, args: list[str], cwd: str = "/") -> bytes:
    """The `<xcatrequest>` xCAT's CLI clients send (XMLout with NoAttr): clienttype, command, args, cwd."""
    parts = ["<xcatrequest>", "  <clienttype>cli</clienttype>", f"  <command>{escape(command)}</command>"]
    parts += [f"  <arg>{escape(arg)}</arg>" for arg in args]
    parts += [f"  <cwd>{escape(cwd)}</cwd>", "</xcatrequest>", ""]
    return "\n".join(parts).encode()


def parse_responses(text: str, request: str = "") -> XcatdAnswer:
    """The daemon's `<xcatresponse>` stream: data lines, error lines, the exit status a client gives.

    A client exits with the largest `errorcode` it was sent, 1 when it got an `error` without one,
    and 1 when the stream ended before `serverdone` (Client.pm's "ended prematurely").
    """
    answer = XcatdAnswer(request)
    try:
        # The peer is xcatd, verified against xCAT's CA; expat (>= 2.4) also bounds entity expansion.
        root = ET.fromstring(f"<massresponse>{_NOT_XML.sub('', text)}</massresponse>")  # noqa: S314
    except ET.ParseError as exc:
        answer.errors.append(f"xcatd's answer is not XML: {exc}")
        answer.rc = 1
        return answer
    codes: list[int] = []
    for response in root.iter("xcatresponse"):
        answer.data += [el.text or "" for el in response.findall("data")]
        answer.data += [el.text or "" for el in response.findall("info")]
        answer.errors += [el.text or "" for el in response.findall("error")]
        for el in response.findall("errorcode"):
            try:
                codes.append(int((el.text or "1").strip()))
            except ValueError:
                codes.append(1)
        if response.find("serverdone") is not None:
            answer.complete = True
    answer.rc = max(codes, default=1 if answer.errors else 0)
    if not answer.complete:
        answer.rc = answer.rc or 1
        answer.errors.append("communication with xcatd ended before serverdone")
    return answer


def _context(cert_dir: Path) -> ssl.SSLContext:
    cred, ca = cert_dir / "client-cred.pem", cert_dir / "ca.pem"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # as xCAT: SSL_verifycn_scheme "none", the CA alone is trusted
    try:
        context.load_verify_locations(str(ca))
        context.load_cert_chain(str(cred))
    except (OSError, ssl.SSLError) as exc:
        raise XcatdUnreachable(f"the client certificates under {cert_dir} cannot be used: {exc}") from None
    return context


def request(
    command: str, args: list[str], *, endpoint: str | None = None, cert_dir: Path | None = None,
    timeout_s: float = TIMEOUT_S,
) -> XcatdAnswer:  # fmt: skip
    """Send one request to xcatd and read its whole answer (within `timeout_s` overall).

    `cert_dir` holds client-cred.pem and ca.pem (default ~/.xcat, as xCAT's clients use).
    """
    endpoint = endpoint or os.environ.get("XCATHOST") or DEFAULT_ENDPOINT
    host, _, port = endpoint.rpartition(":")
    context = _context(cert_dir or Path.home() / ".xcat")
    deadline = time.monotonic() + timeout_s
    label = " ".join([command, *args])
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as raw, \
                context.wrap_socket(raw) as tls:  # fmt: skip
            tls.sendall(request_xml(command, args))
            chunks: list[bytes] = []
            while not (chunks and b"serverdone" in chunks[-1] and chunks[-1].rstrip().endswith(b"</xcatresponse>")):
                tls.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = tls.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except TimeoutError:
        raise XcatdUnreachable(f"xcatd on {endpoint} did not answer {label!r} within {timeout_s:.0f} s") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise XcatdUnreachable(f"cannot talk to xcatd on {endpoint}: {exc}") from None
    return parse_responses(b"".join(chunks).decode(errors="replace"), label)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "tabdump":
        print("usage: python -m xcatha_verify.xcatclient tabdump TABLE [TABLE...]", file=sys.stderr)
        return 2
    # One connection per request, as xcatd serves them; side by side, since each waits on the daemon.
    with ThreadPoolExecutor(max_workers=len(args) - 1) as pool:
        futures = [pool.submit(request, "tabdump", [table]) for table in args[1:]]
        try:
            answers = [f.result() for f in futures]
        except XcatdUnreachable as exc:
            print(exc, file=sys.stderr)
            return 3
    for answer in answers:
        print(json.dumps(asdict(answer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
