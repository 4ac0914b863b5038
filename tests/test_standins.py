"""Tests of the xCAT stand-ins (lab test equipment) against a real, throwaway PostgreSQL 15.

The module fixture initdb's a private cluster on 127.0.0.1 and a random port (run as the
``postgres`` OS user), creates role xcatadm and database xcatdb, loads schema.sql and a few rows,
and starts the xcatd stand-in on another random port with ``--root`` in a temporary directory and
``XCATHA_SYSTEMCTL`` pointing at a tiny recording script (test equipment for these tests only).
Everything is stopped by PID at the end, even when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the package is not necessarily installed in the venv
    sys.path.insert(0, str(REPO))

from xcatha_verify.lab.standins import db  # noqa: E402
from xcatha_verify.lab.standins.commands import parse_xcathost  # noqa: E402
from xcatha_verify.lab.standins.db import CfgLocError, parse_cfgloc  # noqa: E402
from xcatha_verify.lab.standins.xcatd import TABLES  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMA = REPO / "xcatha_verify/lab/standins/schema.sql"
HOST = socket.gethostname()
NS = HOST.split(".")[0]
DB_DOWN = f"Error: [{HOST}]: Could not connect to the database. Database handle not defined.\n"
CONN_REFUSED = f"Error: [{HOST}]: Connection failure: IO::Socket::INET: connect: Connection refused\n"
PASSWORD = "Pw-" + secrets.token_hex(12)  # unique, so a leak anywhere is easy to find

needs_pg = pytest.mark.skipif(
    os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or shutil.which("psql") is None,
    reason="needs root, PostgreSQL 15 server binaries and psql",
)

SEED_SQL = """
insert into site (key, value) values ('domain', 'cluster.lab'), ('master', '10.0.0.1'),
    ('nameservers', '10.0.0.1');
insert into site (key, value, disable) values ('hidden', 'x', '1');
insert into networks (netname, net, mask, mgtifname, gateway, dynamicrange, mtu, comments) values
    ('10_0_0_0-255_255_255_0', '10.0.0.0', '255.255.255.0', 'eth0:0', '10.0.0.254',
     '10.0.0.200-10.0.0.250', '1500', 'provision "net"'),
    ('192_168_5_0-255_255_255_0', '192.168.5.0', '255.255.255.0', 'eth1', '<xcatmaster>', null, null, null);
insert into nodelist (node, groups) values ('cn1', 'compute,all'), ('cn2', 'compute,all');
insert into hosts (node, ip) values ('cn1', '10.0.0.11'), ('cn2', '10.0.0.12');
insert into mac (node, interface, mac) values ('cn1', 'eth0', '52:54:00:00:00:11'),
    ('cn2', 'eth0', '52:54:00:00:00:12|52:54:00:00:01:12');
"""

ETC_HOSTS = """127.0.0.1 localhost
::1 localhost ip6-localhost
10.0.0.1 xcatmn xcatmn.cluster.lab
10.0.0.11 cn1 cn1.cluster.lab   # compute
10.0.0.12 cn2.cluster.lab cn2
192.168.9.9 other.example.org
"""

# Records its arguments; "is-active U" is true while STATE/U.active exists; start/restart of U
# fails while STATE/U.fail exists, else marks U active.
SYSTEMCTL_SH = """#!/bin/sh
echo "$*" >> "{log}"
unit="$2"
case "$1" in
  is-active) if [ -e "{state}/$unit.active" ]; then echo active; exit 0; fi; echo inactive; exit 3 ;;
  start|restart)
    if [ -e "{state}/$unit.fail" ]; then echo "Job for $unit.service failed." >&2; exit 1; fi
    touch "{state}/$unit.active" ;;
  stop) rm -f "{state}/$unit.active" ;;
esac
exit 0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A private PostgreSQL 15 cluster run by the postgres OS user."""

    def __init__(self, base: Path) -> None:
        self.data = base / "pgdata"
        self.sockdir = base / "pgsock"
        self.log = base / "postgres.log"
        self.port = free_port()

    def _as_postgres(self, *argv: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], input=input_text, text=True,
                              capture_output=True, check=True, cwd="/")

    def initdb(self) -> None:
        for path in (self.data, self.sockdir):
            path.mkdir()
            shutil.chown(path, "postgres", "postgres")
        self.log.touch()
        shutil.chown(self.log, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                          "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.sockdir}'\nfsync = off\n")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                          "start")

    def stop(self, mode: str = "immediate") -> None:
        pid = self.pid()
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                        "-m", mode, "-w", "stop"], capture_output=True, check=False, cwd="/")
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)

    def admin_sql(self, sql: str, dbname: str = "postgres", **variables: str) -> None:
        argv = [shutil.which("psql") or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockdir),
                "-p", str(self.port), "-d", dbname]
        for name, value in variables.items():
            argv += ["-v", f"{name}={value}"]
        self._as_postgres(*argv, input_text=sql)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Lab:
    """The fixture's state and helpers."""

    def __init__(self, base: Path, cluster: Cluster) -> None:
        self.base = base
        self.cluster = cluster
        self.root = base / "root"
        self.state = base / "units"
        self.systemctl_log = base / "systemctl.log"
        self.systemctl = base / "systemctl"
        self.xcatd_port = 0
        self.xcatd_log = base / "xcatd.log"
        self.outputs: list[str] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "NOTIFY_SOCKET"))}
        env |= {"PYTHONPATH": str(REPO), "XCATHA_SYSTEMCTL": str(self.systemctl),
                "XCATHOST": f"127.0.0.1:{self.xcatd_port}"}
        return env | extra

    def start_xcatd(self, port: int, log: Path) -> subprocess.Popen[bytes]:
        """Start xcatd and wait for its READY=1 (and MAINPID) on an abstract NOTIFY_SOCKET."""
        name = f"standins-test-{secrets.token_hex(6)}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind("\0" + name)
            notify.settimeout(30)
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "xcatha_verify.lab.standins.xcatd", "--port", str(port),
                     "--bind", "127.0.0.1", "--root", str(self.root)],
                    env=self.env(NOTIFY_SOCKET="@" + name), stdout=out, stderr=out, cwd=self.base,
                )
            try:
                assert notify.recv(64) == f"READY=1\nMAINPID={proc.pid}".encode()
            except BaseException:
                _stop_process(proc)
                raise
        return proc

    def run(self, command: str, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env() if port is None else self.env(XCATHOST=f"127.0.0.1:{port}")
        proc = subprocess.run([sys.executable, "-m", "xcatha_verify.lab.standins.commands", command, *args],
                              env=env, capture_output=True, text=True, timeout=120, check=False, cwd=self.base)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def ok(self, command: str, *args: str) -> str:
        proc = self.run(command, *args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        return proc.stdout

    def calls(self) -> list[str]:
        return self.systemctl_log.read_text().splitlines() if self.systemctl_log.exists() else []

    def file(self, node_path: str) -> str:
        return (self.root / node_path.lstrip("/")).read_text()

    @contextmanager
    def database_down(self) -> Iterator[None]:
        self.cluster.stop("fast")
        try:
            yield
        finally:
            self.cluster.start()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    base = Path(tempfile.mkdtemp(prefix="standins-"))
    base.chmod(0o755)  # the postgres user must reach its data directory
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        cluster = Cluster(base)
        lab = Lab(base, cluster)
        cluster.initdb()
        stack.callback(cluster.stop)
        cluster.start()
        cluster.admin_sql("create role xcatadm login password :'pw';\ncreate database xcatdb owner xcatadm;\n",
                          pw=PASSWORD)
        # Load the schema the documented way: psql as xcatadm over TCP, password in PGPASSWORD.
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(cluster.port),
                        "-U", "xcatadm", "-d", "xcatdb", "-f", str(SCHEMA)], env=env, check=True)
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(cluster.port),
                        "-U", "xcatadm", "-d", "xcatdb"], input=SEED_SQL, text=True, env=env, check=True)
        (lab.root / "etc/xcat").mkdir(parents=True)
        (lab.root / "etc/xcat/cfgloc").write_text(
            f"Pg:dbname=xcatdb;host=127.0.0.1;port={cluster.port}|xcatadm|{PASSWORD}\n")
        (lab.root / "etc/hosts").write_text(ETC_HOSTS)
        lab.state.mkdir()
        lab.systemctl.write_text(SYSTEMCTL_SH.format(log=lab.systemctl_log, state=lab.state))
        lab.systemctl.chmod(0o755)
        lab.xcatd_port = free_port()
        xcatd = lab.start_xcatd(lab.xcatd_port, lab.xcatd_log)
        stack.callback(_stop_process, xcatd)
        yield lab


# ----------------------------------------------------------------------------- cfgloc parser


def test_cfgloc_without_port() -> None:
    cfg = parse_cfgloc("Pg:dbname=xcatdb;host=192.0.2.7|xcatadm|SECRETPASSWORD\n")
    assert (cfg.dbname, cfg.host, cfg.port, cfg.user, cfg.password) == (
        "xcatdb", "192.0.2.7", None, "xcatadm", "SECRETPASSWORD")
    assert cfg.public_text == "Pg:dbname=xcatdb;host=192.0.2.7|xcatadm"
    assert "SECRETPASSWORD" not in repr(cfg)


def test_cfgloc_with_port_and_bar_in_password() -> None:
    # As xCAT's Table.pm splits it: the third field is the password, what follows another | is ignored.
    cfg = parse_cfgloc("Pg:dbname=xcatdb;host=192.0.2.7;port=5433|xcatadm|pa|ss")
    assert (cfg.host, cfg.port, cfg.password) == ("192.0.2.7", 5433, "pa")


@pytest.mark.parametrize(("text", "message"), [
    ("", "first line is empty"),
    ("\nPg:dbname=a;host=b|u|SECRET", "first line is empty"),
    ("mysql:dbname=xcatdb;host=h|u|SECRET", "only 'Pg'"),
    ("dbname=xcatdb;host=h|u|SECRET", "engine"),
    ("Pg:dbname=xcatdb;host=h|SECRET", "Pg:dbname=DB;host=HOST"),
    ("Pg:host=h|u|SECRET", "no dbname="),
    ("Pg:dbname=x|u|SECRET", "no host="),
    ("Pg:dbname=x;host=h;port=99999|u|SECRET", "not a TCP port"),
    ("Pg:dbname=x;host=h;SECRET|u|SECRET", "not a KEY=VALUE item"),
    ("Pg:dbname=x;host=h||SECRET", "no database user"),
])
def test_cfgloc_malformed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_cfgloc(text)
    assert isinstance(info.value, CfgLocError)
    assert "SECRET" not in str(info.value)


def test_xcathost_parsing() -> None:
    assert parse_xcathost("localhost:3001") == ("localhost", 3001)
    assert parse_xcathost("192.0.2.7") == ("192.0.2.7", 3001)
    assert parse_xcathost("[::1]:3002") == ("::1", 3002)
    with pytest.raises(ValueError):
        parse_xcathost("host:port")


def test_schema_matches_the_daemons_tables() -> None:
    sql = SCHEMA.read_text()
    for table, columns in TABLES.items():
        body = sql.split(f"create table if not exists {table} (")[1].split(");")[0]
        assert [line.split()[0] for line in body.strip().splitlines()] == list(columns)


# ----------------------------------------------------------------------------- commands


@needs_pg
def test_lsdef_site(lab: Lab) -> None:
    assert lab.ok("lsdef", "-t", "site", "-i", "domain") == "Object name: clustersite\n    domain=cluster.lab\n"
    assert lab.ok("lsdef", "-t", "site", "-i", "master,domain") == (
        "Object name: clustersite\n    domain=cluster.lab\n    master=10.0.0.1\n")
    everything = ("Object name: clustersite\n    domain=cluster.lab\n    master=10.0.0.1\n"
                  "    nameservers=10.0.0.1\n")  # the disabled "hidden" row is not shown
    assert lab.ok("lsdef", "-t", "site") == everything
    assert lab.ok("lsdef", "-t", "site", "-l") == everything
    assert lab.ok("lsdef", "-t", "site", "-o", "clustersite", "-i", "nosuchattr") == "Object name: clustersite\n"


@needs_pg
def test_lsdef_site_without_domain_and_makedns_needs_it(lab: Lab) -> None:
    assert lab.ok("chdef", "-t", "site", "domain=") == "1 object definitions have been created or modified.\n"
    try:
        out = lab.ok("lsdef", "-t", "site", "-i", "domain")
        assert out == "Object name: clustersite\n"
        assert "domain" not in out.replace("Object name: clustersite", "")  # so "| grep domain" fails
        proc = lab.run("makedns", "-n")
        assert proc.returncode == 1
        assert proc.stderr.startswith(f"Error: [{HOST}]: domain is not defined in the site table.")
    finally:
        lab.ok("chdef", "-t", "site", "domain=cluster.lab")


@needs_pg
def test_lsdef_network(lab: Lab) -> None:
    assert lab.ok("lsdef", "-t", "network") == (
        "10_0_0_0-255_255_255_0  (network)\n192_168_5_0-255_255_255_0  (network)\n")
    first = ("Object name: 10_0_0_0-255_255_255_0\n    dynamicrange=10.0.0.200-10.0.0.250\n"
             "    gateway=10.0.0.254\n    mask=255.255.255.0\n    mgtifname=eth0:0\n    mtu=1500\n"
             "    net=10.0.0.0\n    usercomment=provision \"net\"\n")
    second = ("Object name: 192_168_5_0-255_255_255_0\n    gateway=<xcatmaster>\n    mask=255.255.255.0\n"
              "    mgtifname=eth1\n    net=192.168.5.0\n")
    assert lab.ok("lsdef", "-t", "network", "-l") == first + second
    assert lab.ok("lsdef", "-t", "network", "-o", "192_168_5_0-255_255_255_0") == second
    assert lab.ok("lsdef", "-t", "network", "-i", "mgtifname") == (
        "Object name: 10_0_0_0-255_255_255_0\n    mgtifname=eth0:0\n"
        "Object name: 192_168_5_0-255_255_255_0\n    mgtifname=eth1\n")
    proc = lab.run("lsdef", "-t", "network", "-o", "nosuchnet")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == f"Error: [{HOST}]: Could not find an object named 'nosuchnet' of type 'network'.\n"


@needs_pg
def test_tabdump(lab: Lab) -> None:
    assert lab.ok("tabdump", "site") == (
        '#key,value,comments,disable\n"domain","cluster.lab",,\n"hidden","x",,"1"\n'
        '"master","10.0.0.1",,\n"nameservers","10.0.0.1",,\n')
    assert lab.ok("tabdump", "networks").splitlines() == [
        "#netname,net,mask,mgtifname,gateway,dhcpserver,tftpserver,nameservers,ntpservers,dynamicrange,mtu,"
        "comments,disable",
        '"10_0_0_0-255_255_255_0","10.0.0.0","255.255.255.0","eth0:0","10.0.0.254",,,,,'
        '"10.0.0.200-10.0.0.250","1500","provision ""net""",',
        '"192_168_5_0-255_255_255_0","192.168.5.0","255.255.255.0","eth1","<xcatmaster>",,,,,,,,',
    ]
    assert lab.ok("tabdump", "nodelist") == (
        '#node,groups,status,comments,disable\n"cn1","compute,all",,,\n"cn2","compute,all",,,\n')
    assert lab.ok("tabdump", "hosts") == (
        '#node,ip,hostnames,comments,disable\n"cn1","10.0.0.11",,,\n"cn2","10.0.0.12",,,\n')
    assert lab.ok("tabdump", "mac") == ('#node,interface,mac,comments,disable\n'
                                        '"cn1","eth0","52:54:00:00:00:11",,\n'
                                        '"cn2","eth0","52:54:00:00:00:12|52:54:00:00:01:12",,\n')
    proc = lab.run("tabdump", "nosuchtable")
    assert proc.returncode == 1
    assert proc.stderr == f"Error: [{HOST}]: No such table: nosuchtable\n"


@needs_pg
def test_chdef_network_shows_in_lsdef_and_tabdump(lab: Lab) -> None:
    net = "192_168_5_0-255_255_255_0"
    assert lab.ok("chdef", "-t", "network", "-o", net, "mgtifname=eth1:0", "mtu=9000") == (
        "1 object definitions have been created or modified.\n")
    try:
        assert lab.ok("lsdef", "-t", "network", "-o", net, "-i", "mgtifname,mtu") == (
            f"Object name: {net}\n    mgtifname=eth1:0\n    mtu=9000\n")
        assert f'"{net}","192.168.5.0","255.255.255.0","eth1:0","<xcatmaster>",,,,,,"9000",,' in lab.ok(
            "tabdump", "networks")
    finally:
        lab.ok("chdef", "-t", "network", "-o", net, "mgtifname=eth1", "mtu=")
    assert "mtu" not in lab.ok("lsdef", "-t", "network", "-o", net)


@needs_pg
def test_chdef_site_upserts_a_key(lab: Lab) -> None:
    assert lab.ok("chdef", "-t", "site", "-o", "clustersite", "timezone=UTC") == (
        "1 object definitions have been created or modified.\n")
    try:
        assert lab.ok("lsdef", "-t", "site", "-i", "timezone") == "Object name: clustersite\n    timezone=UTC\n"
    finally:
        lab.cluster.admin_sql("delete from site where key = 'timezone';", dbname="xcatdb")


@needs_pg
def test_chdef_errors(lab: Lab) -> None:
    proc = lab.run("chdef", "-t", "network", "-o", "nosuchnet", "mtu=1")
    assert (proc.returncode, proc.stderr) == (
        1, f"Error: [{HOST}]: Could not find an object named 'nosuchnet' of type 'network'.\n")
    proc = lab.run("chdef", "-t", "network", "-o", "10_0_0_0-255_255_255_0", "colour=blue")
    assert (proc.returncode, proc.stderr) == (
        1, f"Error: [{HOST}]: 'colour' is not a valid attribute name for an object type of 'network'.\n")
    proc = lab.run("chdef", "-t", "site", "bad-key=1")
    assert proc.returncode == 1
    assert "not a valid attribute name" in proc.stderr
    proc = lab.run("chdef", "-t", "site")
    assert proc.returncode == 1
    assert "Usage: chdef" in proc.stderr


@needs_pg
def test_lsxcatd(lab: Lab) -> None:
    port = lab.cluster.port
    assert lab.ok("lsxcatd", "-a") == (
        "Version 2.16.5 (lab stand-in)\nThis is a Management Node\n"
        f"cfgloc=Pg:dbname=xcatdb;host=127.0.0.1;port={port}|xcatadm\n"
        "dbengine=Pg\ndbname=xcatdb\ndbhost=127.0.0.1\ndbadmin=xcatadm\n")
    assert lab.ok("lsxcatd", "-v") == "Version 2.16.5 (lab stand-in)\n"


@needs_pg
def test_usage_errors(lab: Lab) -> None:
    proc = lab.run("nosuchcommand")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Usage:")
    for argv in (["makedhcp"], ["makedhcp", "-n", "-a"], ["makedns"], ["lsdef"], ["lsdef", "-t", "node"],
                 ["lsxcatd"], ["makegocons", "extra"], ["lsdef", "-t", "site", "-Z"]):
        proc = lab.run(*argv)
        assert proc.returncode == 1, argv
        assert f"Usage: {argv[0]}" in proc.stderr, argv
    proc = lab.run("lsdef", "-h")
    assert (proc.returncode, proc.stdout.startswith("Usage: lsdef")) == (0, True)


@needs_pg
def test_protocol_is_one_json_line_each_way(lab: Lab) -> None:
    def ask(line: bytes) -> dict[str, object]:
        with socket.create_connection(("127.0.0.1", lab.xcatd_port), timeout=30) as sock:
            sock.sendall(line)
            return json.loads(sock.makefile("rb").readline())

    reply = ask(b'{"command": "lsdef", "args": ["-t", "site", "-i", "domain"], "cwd": "/"}\n')
    assert reply == {"rc": 0, "stdout": "Object name: clustersite\n    domain=cluster.lab\n", "stderr": ""}
    assert ask(b"not json\n") == {"rc": 1, "stdout": "", "stderr": f"Error: [{HOST}]: Malformed request.\n"}
    assert ask(b'{"command": "rmdef", "args": []}\n')["stderr"] == f"Error: [{HOST}]: Unsupported command: rmdef\n"


@needs_pg
def test_makedns(lab: Lab) -> None:
    conf = lab.root / "etc/named.conf"
    conf.write_text("// the administrator's own named.conf\n")
    before = len(lab.calls())
    out = lab.ok("makedns", "-n")
    assert out.splitlines() == [
        "Handling localhost in /etc/hosts.", "Handling localhost in /etc/hosts.",
        "Handling xcatmn in /etc/hosts.", "Handling cn1 in /etc/hosts.", "Handling cn2 in /etc/hosts.",
        "Handling other in /etc/hosts.",
        "Updating zones.", "Completed updating zones.", "Restarting named", "Restarting named complete",
        "DNS setup is completed",
    ]
    assert lab.calls()[before:] == ["restart named"]
    assert (lab.root / "etc/named.conf.xcatbak").read_text() == "// the administrator's own named.conf\n"
    named_conf = conf.read_text()
    for line in ('directory "/var/named";', "listen-on { any; };", "recursion no;", 'zone "cluster.lab" in {',
                 'file "db.cluster.lab";'):
        assert line in named_conf
    zone = lab.file("/var/named/db.cluster.lab")
    records = [line.split() for line in zone.splitlines() if " IN A" in line]
    expected = [["xcatmn", "IN", "A", "10.0.0.1"], ["cn1", "IN", "A", "10.0.0.11"], ["cn2", "IN", "A", "10.0.0.12"]]
    if NS not in ("xcatmn", "cn1", "cn2"):
        expected.append([NS, "IN", "A", "10.0.0.1"])  # this node is not in /etc/hosts: site.master
    assert records == expected
    assert f"@ IN NS {NS}.cluster.lab." in zone
    assert "other" not in zone
    assert "localhost" not in zone
    if shutil.which("named-checkzone"):
        check = subprocess.run(["named-checkzone", "cluster.lab", str(lab.root / "var/named/db.cluster.lab")],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
    if shutil.which("named-checkconf"):
        check = subprocess.run(["named-checkconf", "-z", "-t", str(lab.root), "/etc/named.conf"],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


@needs_pg
def test_makedns_fails_when_named_does_not_restart(lab: Lab) -> None:
    (lab.state / "named.fail").touch()
    try:
        proc = lab.run("makedns", "-n")
    finally:
        (lab.state / "named.fail").unlink()
    assert proc.returncode == 1
    assert proc.stdout.endswith("Restarting named\n")
    assert proc.stderr == f"Error: [{HOST}]: Failed to restart named: Job for named.service failed.\n"


@needs_pg
def test_makedhcp_n(lab: Lab) -> None:
    dhcp = lab.root / "etc/dhcp"
    dhcp.mkdir(parents=True, exist_ok=True)
    (dhcp / "dhcpd.conf").write_text("# the distribution's dhcpd.conf\n")
    before = len(lab.calls())
    out = lab.ok("makedhcp", "-n")
    assert out == (
        "Renamed existing dhcp configuration file to  /etc/dhcp/dhcpd.conf.xcatbak\n\n"
        "Warning: No dynamic range specified for 192.168.5.0. If hardware discovery is being used, "
        "a dynamic range is required.\n")
    assert lab.calls()[before:] == ["restart dhcpd"]
    assert (dhcp / "dhcpd.conf.xcatbak").read_text() == "# the distribution's dhcpd.conf\n"
    conf = (dhcp / "dhcpd.conf").read_text()
    assert "authoritative;" in conf
    assert 'option domain-name "cluster.lab";' in conf
    assert ("subnet 10.0.0.0 netmask 255.255.255.0 {\n\trange 10.0.0.200 10.0.0.250;\n"
            "\toption routers 10.0.0.254;\n}") in conf
    assert "subnet 192.168.5.0 netmask 255.255.255.0 {\n}" in conf
    assert conf.endswith('include "/etc/dhcp/xcat-hosts.conf";\n')
    assert (dhcp / "xcat-hosts.conf").exists()
    if shutil.which("dhcpd"):  # the real daemon's syntax check, include pointed into the test root
        copy = lab.base / "dhcpd-check.conf"
        copy.write_text(conf.replace("/etc/dhcp/xcat-hosts.conf", str(dhcp / "xcat-hosts.conf")))
        check = subprocess.run(["dhcpd", "-t", "-4", "-cf", str(copy)], capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout + check.stderr


@needs_pg
def test_makedhcp_n_fails_when_dhcpd_does_not_restart(lab: Lab) -> None:
    (lab.state / "dhcpd.fail").touch()
    try:
        proc = lab.run("makedhcp", "-n")
    finally:
        (lab.state / "dhcpd.fail").unlink()
    assert proc.returncode == 1
    assert proc.stderr == f"Error: [{HOST}]: Failed to restart dhcpd: Job for dhcpd.service failed.\n"


@needs_pg
def test_makedhcp_a(lab: Lab) -> None:
    (lab.state / "dhcpd.active").unlink(missing_ok=True)
    before = len(lab.calls())
    assert lab.ok("makedhcp", "-a") == ""
    assert lab.calls()[before:] == ["is-active dhcpd"]  # not running: not restarted
    hosts = lab.file("/etc/dhcp/xcat-hosts.conf")
    assert ("host cn1 {\n\thardware ethernet 52:54:00:00:00:11;\n\tfixed-address 10.0.0.11;\n}\n"
            "host cn2 {\n\thardware ethernet 52:54:00:00:00:12;\n\tfixed-address 10.0.0.12;\n}\n") in hosts
    (lab.state / "dhcpd.active").touch()
    before = len(lab.calls())
    lab.ok("makedhcp", "-a")
    assert lab.calls()[before:] == ["is-active dhcpd", "restart dhcpd"]


@needs_pg
def test_makeconservercf(lab: Lab) -> None:
    before = len(lab.calls())
    assert lab.ok("makeconservercf") == ""
    assert lab.calls()[before:] == []
    conf = lab.file("/etc/conserver.cf")
    assert "default full { rw *; }" in conf
    assert "access * {\n\ttrusted 127.0.0.1;\n}" in conf
    for node in ("cn1", "cn2"):
        assert f"console {node} {{\n\tmaster localhost;\n\ttype exec;\n\texec /bin/cat;\n}}" in conf
    assert lab.file("/etc/xcat/console.lock") == "conserver\n"
    lab.ok("makeconservercf")
    assert lab.file("/etc/conserver.cf.xcatbak") == conf
    if shutil.which("conserver"):  # the real daemon's syntax check
        check = subprocess.run(["conserver", "-S", "-C", str(lab.root / "etc/conserver.cf")],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


@needs_pg
def test_makegocons(lab: Lab) -> None:
    (lab.state / "goconserver.active").unlink(missing_ok=True)
    before = len(lab.calls())
    assert lab.ok("makegocons") == "Starting goconserver service ...\n"
    assert lab.calls()[before:] == ["is-active goconserver", "start goconserver"]
    assert json.loads(lab.file("/etc/goconserver/nodes.json")) == ["cn1", "cn2"]
    assert lab.file("/etc/xcat/console.lock") == "goconserver\n"
    before = len(lab.calls())
    assert lab.ok("makegocons") == ""  # already running: left alone
    assert lab.calls()[before:] == ["is-active goconserver"]
    (lab.state / "goconserver.active").unlink()
    (lab.state / "goconserver.fail").touch()
    try:
        proc = lab.run("makegocons")
    finally:
        (lab.state / "goconserver.fail").unlink()
    assert proc.returncode == 1
    assert proc.stderr == f"Error: [{HOST}]: Failed to start goconserver: Job for goconserver.service failed.\n"


@needs_pg
def test_commands_fail_when_xcatd_is_stopped(lab: Lab) -> None:
    port = free_port()
    proc = lab.start_xcatd(port, lab.base / "xcatd-second.log")
    try:
        assert lab.run("lsxcatd", "-v", port=port).returncode == 0
    finally:
        _stop_process(proc)
    assert proc.returncode == 0  # SIGTERM is a clean stop
    for argv in (["lsdef", "-t", "site", "-i", "domain"], ["makedns", "-n"], ["lsxcatd", "-a"]):
        result = lab.run(*argv, port=port)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", CONN_REFUSED)


@needs_pg
def test_requests_fail_when_postgresql_is_stopped(lab: Lab) -> None:
    with lab.database_down():
        for argv in (["lsdef", "-t", "site", "-i", "domain"], ["lsdef", "-t", "network"], ["tabdump", "site"],
                     ["chdef", "-t", "site", "domain=x"], ["lsxcatd", "-a"], ["makedns", "-n"],
                     ["makedhcp", "-n"], ["makedhcp", "-a"], ["makeconservercf"], ["makegocons"]):
            result = lab.run(*argv)
            assert (result.returncode, result.stdout, result.stderr) == (1, "", DB_DOWN), argv
        # And xcatd itself refuses to start.
        log = lab.base / "xcatd-nodb.log"
        with log.open("wb") as out:
            start = subprocess.run(
                [sys.executable, "-m", "xcatha_verify.lab.standins.xcatd", "--port", str(free_port()),
                 "--bind", "127.0.0.1", "--root", str(lab.root)],
                env=lab.env(), stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False)
        assert start.returncode == 1
        assert DB_DOWN in log.read_text()
        lab.outputs.append(log.read_text())
    # Each request reads the database afresh: the running xcatd answers again.
    assert lab.ok("lsdef", "-t", "site", "-i", "domain") == "Object name: clustersite\n    domain=cluster.lab\n"


@needs_pg
def test_xcatd_refuses_to_start_without_cfgloc(lab: Lab) -> None:
    empty_root = lab.base / "empty-root"
    empty_root.mkdir(exist_ok=True)
    start = subprocess.run(
        [sys.executable, "-m", "xcatha_verify.lab.standins.xcatd", "--port", str(free_port()),
         "--bind", "127.0.0.1", "--root", str(empty_root)],
        env=lab.env(), capture_output=True, text=True, timeout=60, check=False)
    assert start.returncode == 1
    assert start.stderr.startswith(f"Error: [{HOST}]: cannot read {empty_root}/etc/xcat/cfgloc:")


@needs_pg
def test_values_are_bound_not_formatted(lab: Lab) -> None:
    evil = "x'; drop table site; --"
    assert lab.ok("chdef", "-t", "site", f"domain={evil}") == "1 object definitions have been created or modified.\n"
    try:
        assert lab.ok("lsdef", "-t", "site", "-i", "domain") == f"Object name: clustersite\n    domain={evil}\n"
        assert '"domain","x\'; drop table site; --",,' in lab.ok("tabdump", "site")
    finally:
        lab.ok("chdef", "-t", "site", "domain=cluster.lab")
    evil_net = "n'; drop table networks; --"
    proc = lab.run("chdef", "-t", "network", "-o", evil_net, "mtu=1")
    assert proc.returncode == 1
    assert "Could not find an object named" in proc.stderr
    net = "10_0_0_0-255_255_255_0"
    lab.ok("chdef", "-t", "network", "-o", net, f"usercomment={evil}")
    try:
        assert f"    usercomment={evil}\n" in lab.ok("lsdef", "-t", "network", "-o", net)
    finally:
        lab.ok("chdef", "-t", "network", "-o", net, 'usercomment=provision "net"')
    assert lab.ok("tabdump", "networks").count("\n") == 3  # header and both rows still there


@needs_pg
def test_password_stays_out_of_argv_and_output(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def recording_run(argv, **kwargs):
        seen.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(db.subprocess, "run", recording_run)
    cfg = db.read_cfgloc(lab.root / "etc/xcat/cfgloc")
    db.ping(cfg)  # the real server, through the real psql
    assert db.query(cfg, "select :'v' as v", {"v": "it's"}) == [{"v": "it's"}]
    assert seen
    for argv, env in seen:
        assert not any(PASSWORD in arg for arg in argv)
        assert env["PGPASSWORD"] == PASSWORD
    monkeypatch.undo()
    # Outputs of every command run so far in this module, error paths included, and xcatd's log.
    lab.run("lsxcatd", "-a")
    lab.run("lsxcatd", "-d")
    assert lab.outputs
    for text in [*lab.outputs, lab.xcatd_log.read_text()]:
        assert PASSWORD not in text


def test_tabdump_to_a_file_prints_nothing(lab: Lab) -> None:
    # What prepare saves before it changes an xCAT table (tabdump -f, read back by tabrestore).
    assert lab.ok("tabdump", "-f", "/etc/xcat/site.csv.xcatha-1", "site") == ""
    saved = (lab.root / "etc/xcat/site.csv.xcatha-1").read_text()
    assert saved == lab.ok("tabdump", "site")
    assert lab.run("tabdump", "-f", "relative.csv", "site").returncode != 0
