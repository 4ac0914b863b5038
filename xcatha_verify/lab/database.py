"""The shared storage and xCAT's database on it, made before any node boots.

The storage is directories on the lab's tmpfs, one per shared path of the seed, reached by the
nodes as an "export" (bound at /xcatha-shared in each node; fstab binds from there). The database
is initialised on it as the seed's one-time set-up leaves it (listen_addresses and pg_hba.conf
naming the VIP and both static IPs, cfgloc pointing at the VIP), and xCAT's role and database are
made (as pgsqlsetup makes them) by a PostgreSQL that the machine runs on it briefly with no TCP
listener at all; xCAT's own set-up then makes the tables (xcatsetup.py), or a kept copy of them is
unpacked (snapshot.py) and only the role's password is new.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from xcatha_verify.lab import system
from xcatha_verify.lab.layout import (
    DB_NAME,
    DB_USER,
    NODE_NAMES,
    PG_BIN,
    PG_DATA,
    SHARED_PATHS,
    LabLayout,
)
from xcatha_verify.lab.templating import render
from xcatha_verify.nodepaths import STORAGE_ID_FILE
from xcatha_verify.storage import first_token

# Who wrote the storage's first token in the lab (a real pair's is written by `xcatha-run prepare`).
SET_UP_BY = "xcatha-lab set-up"


def data_dir(layout: LabLayout) -> Path:
    return layout.shared_dir("/var/lib/pgsql") / Path(PG_DATA).relative_to("/var/lib/pgsql")


def create(layout: LabLayout, storage_id: str, initialised: bool = False) -> str:
    """Make the shared storage and the database on it; returns the database password.

    `initialised`: the storage already holds a database xCAT's set-up made (a snapshot unpacked):
    only its role's password, the cfgloc and the storage id are made anew.
    """
    for path in SHARED_PATHS:
        layout.shared_dir(path).mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    if not initialised:
        _make_cluster(layout)
    etc_xcat = layout.shared_dir("/etc/xcat")
    (etc_xcat / STORAGE_ID_FILE).write_text(first_token(storage_id, SET_UP_BY).render())
    cfgloc = etc_xcat / "cfgloc"
    cfgloc.write_text(f"Pg:dbname={DB_NAME};host={layout.vip}|{DB_USER}|{password}\n")
    cfgloc.chmod(0o600)
    _seed(layout, password, initialised)
    return password


def _make_cluster(layout: LabLayout) -> None:
    shutil.chown(layout.shared_dir("/var/lib/pgsql"), "postgres", "postgres")
    data = data_dir(layout)
    system.run([
        "runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-E", "UTF8",
        "--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256", "--no-instructions",
    ], timeout=120)  # fmt: skip
    static_ips = [str(layout.static_ip(n)) for n in NODE_NAMES]
    listen = ",".join(["localhost", str(layout.vip), *static_ips])
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# xCAT HA (xcatha-lab): the VIP and every management node's static IP\n"
            f"listen_addresses = '{listen}'\n"
            "unix_socket_directories = '/run/postgresql'\n"
        )
    (data / "pg_hba.conf").write_text(render("pg_hba.conf.j2", vip=layout.vip, static_ips=static_ips))


def _seed(layout: LabLayout, password: str, initialised: bool) -> None:
    """xCAT's role and database (or, `initialised`, the role's new password), through a PostgreSQL
    listening on a private socket only."""
    socket_dir = layout.base / "pg-seed"
    socket_dir.mkdir()
    shutil.chown(socket_dir, "postgres", "postgres")
    pg_ctl = ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data_dir(layout)), "-s"]
    options = f"-c listen_addresses='' -c unix_socket_directories='{socket_dir}'"
    server_log = socket_dir / "server.log"  # postgres must be able to write it
    system.run([*pg_ctl, "-w", "-o", options, "-l", str(server_log), "start"], timeout=60)
    try:
        psql = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(socket_dir)]
        quoted = password.replace("'", "''")
        if initialised:
            system.run(psql, input_text=f"ALTER ROLE {DB_USER} PASSWORD '{quoted}';\n")
            return
        system.run(psql, input_text=f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{quoted}';\n"
                                    f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};\n")  # fmt: skip
        # pgsqlsetup's way; PostgreSQL 15 no longer lets PUBLIC create in public. xcatconfig -d makes the tables.
        system.run([*psql, "-d", DB_NAME], input_text=f"GRANT ALL ON SCHEMA public TO {DB_USER};\n")
    finally:
        system.run([*pg_ctl, "-m", "fast", "-w", "stop"], check=False, timeout=60)
        if server_log.exists():
            shutil.copy(server_log, layout.log_dir / "pg-seed.log")
        shutil.rmtree(socket_dir, ignore_errors=True)
