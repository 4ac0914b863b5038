"""goconserver stand-in: the lab's one piece of xCAT-side test equipment (goconserver has no Debian
package and its Go dependencies cannot be fetched here). Not goconserver.

Installed in each node as ``/usr/bin/goconserver`` (a Python script, so `ps` shows that path, which
is how xCAT's Goconserver.pm tells it runs) with a ``goconserver.service`` unit. It does the part
of goconserver that xCAT's `makegocons` talks to, read from xCAT 2.19's Goconserver.pm:

- its configuration from ``/etc/goconserver/server.conf`` as `makegocons` writes it: ``global.host``,
  ``global.ssl_key_file``/``ssl_cert_file``/``ssl_ca_cert_file`` (xCAT's server credentials and CA),
  ``api.port`` (12429), ``console.port`` (12430), ``console.datadir``;
- the REST API on the API port, HTTPS with client certificates signed by that CA (LWP in
  Goconserver.pm presents root's ``~/.xcat/client-cred.pem``): ``GET /nodes`` -> ``{"nodes": [{"name",
  "host", "state"}]}``, ``POST /bulk/nodes`` (``{"nodes": [{"name", "driver", "params", "ondemand"}]}``)
  -> ``{NAME: "Created"}``, ``DELETE /bulk/nodes`` (``{"nodes": [{"name"}]}``) -> ``{NAME: "Deleted"}``;
  the nodes are kept in ``DATADIR/nodes.json`` across restarts;
- the console port accepts a connection and says what it is.

It never runs a node's console command (xCAT's ``cons/ipmi``): every node's state is ``not connected
(lab stand-in)``. It tells systemd when it listens (its unit is Type=notify); SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULTS = {"global.host": "0.0.0.0", "api.port": "12429", "console.port": "12430",  # noqa: S104 - as goconserver
            "console.datadir": "/var/lib/goconserver/"}  # fmt: skip
STATE = "not connected (lab stand-in)"


def read_config(path: Path) -> dict[str, str]:
    """`section.key` -> value from goconserver's YAML as xCAT writes it (two levels, `#` comments)."""
    found = dict(DEFAULTS)
    section = ""
    text = path.read_text() if path.exists() else ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip() or line.strip().startswith("-"):
            continue
        key, _, value = line.strip().partition(":")
        if not raw.startswith(" "):
            section = key
        elif raw.startswith("  ") and not raw.startswith("   ") and value.strip():
            found[f"{section}.{key}"] = value.strip()
    return found


class Consoles:
    """The registered nodes, kept in DATADIR/nodes.json."""

    def __init__(self, datadir: Path, host: str) -> None:
        self.file = datadir / "nodes.json"
        self.host = host
        self.lock = threading.Lock()
        self.nodes: dict[str, dict[str, Any]] = json.loads(self.file.read_text()) if self.file.exists() else {}

    def _save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.nodes, indent=2, sort_keys=True) + "\n")
        temporary.replace(self.file)

    def listing(self) -> dict[str, Any]:
        with self.lock:
            return {"nodes": [{"name": n, "host": self.host, "state": STATE} for n in sorted(self.nodes)]}

    def create(self, entries: list[dict[str, Any]]) -> dict[str, str]:
        with self.lock:
            for entry in entries:
                self.nodes[str(entry["name"])] = entry
            self._save()
            return {str(e["name"]): "Created" for e in entries}

    def delete(self, entries: list[dict[str, Any]]) -> dict[str, str]:
        with self.lock:
            result = {}
            for entry in entries:
                name = str(entry["name"])
                result[name] = "Deleted" if self.nodes.pop(name, None) is not None else "Not exist"
            self._save()
            return result


def _handler(consoles: Consoles) -> type[BaseHTTPRequestHandler]:
    class Api(BaseHTTPRequestHandler):
        server_version = "goconserver-lab-stand-in"

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _entries(self) -> list[dict[str, Any]] | None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                entries = body["nodes"]
                if isinstance(entries, list) and all(isinstance(e, dict) and "name" in e for e in entries):
                    return entries
            except (ValueError, KeyError, TypeError):
                pass
            self._reply(400, {"message": "expected {\"nodes\": [{\"name\": ...}]}"})
            return None

        def do_GET(self) -> None:
            if self.path == "/nodes":
                self._reply(200, consoles.listing())
            else:
                self._reply(404, {"message": f"{self.path}: not in the lab stand-in"})

        def do_POST(self) -> None:
            if self.path != "/bulk/nodes":
                self._reply(404, {"message": f"{self.path}: not in the lab stand-in"})
            elif (entries := self._entries()) is not None:
                self._reply(201, consoles.create(entries))

        def do_DELETE(self) -> None:
            if self.path != "/bulk/nodes":
                self._reply(404, {"message": f"{self.path}: not in the lab stand-in"})
            elif (entries := self._entries()) is not None:
                self._reply(200, consoles.delete(entries))

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"api: {format % args}\n")

    return Api


class _ConsoleServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # a restart must not wait out TIME_WAIT (as Go's listeners do not)
    daemon_threads = True


class _ConsolePort(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"goconserver (lab stand-in): consoles are not connected\n")


def notify_ready() -> None:
    """Tell systemd both ports listen (its unit is Type=notify: `systemctl start` returns then)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.connect("\0" + address[1:] if address.startswith("@") else address)
        notify.sendall(b"READY=1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="goconserver", description="goconserver stand-in (lab test equipment)")
    parser.add_argument("--config", type=Path, default=Path("/etc/goconserver/server.conf"))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = read_config(args.config)
    host = config["global.host"]
    consoles = Consoles(Path(config["console.datadir"]), socket.gethostname())
    api = ThreadingHTTPServer((host, int(config["api.port"])), _handler(consoles))
    if config.get("global.ssl_cert_file"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config["global.ssl_cert_file"], config.get("global.ssl_key_file"))
        if config.get("global.ssl_ca_cert_file"):
            context.load_verify_locations(config["global.ssl_ca_cert_file"])
            context.verify_mode = ssl.CERT_REQUIRED  # clients present xCAT credentials, as to goconserver
        api.socket = context.wrap_socket(api.socket, server_side=True)
    console = _ConsoleServer((host, int(config["console.port"])), _ConsolePort)
    threading.Thread(target=console.serve_forever, name="console-port", daemon=True).start()
    notify_ready()
    print(f"goconserver stand-in: api on {host}:{config['api.port']}"
          f"{' (https)' if config.get('global.ssl_cert_file') else ''}, console port {config['console.port']}",
          flush=True)  # fmt: skip
    api.serve_forever()


if __name__ == "__main__":
    main()
