"""PostgreSQL as the checks see it: where its files are, the include machinery its two configuration
files share (``pg_conf.py``, ``pg_hba.py``: each read by the server's own rules), and the one
``pg_isready`` every check that asks whether the database answers runs.
"""


from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xcatha_verify.facts.network import FactError
from xcatha_verify.inventory import Inventory

# pg_isready's exit statuses other than 0, in its own words.
PG_ISREADY = {1: "rejecting connections", 2: "no response", 3: "no attempt made"}

POSTGRESQL_CONF = "/var/lib/pgsql/data/postgresql.conf"
POSTGRESQL_AUTO_CONF = "/var/lib/pgsql/data/postgresql.auto.conf"
PG_HBA_CONF = "/var/lib/pgsql/data/pg_hba.conf"
MAX_INCLUDE_DEPTH = 10  # PostgreSQL's CONF_FILE_MAX_DEPTH
# postgresql.conf's include lines, which pg_hba.conf takes too (PostgreSQL 16).
INCLUDE_DIRECTIVES = ("include", "include_if_exists", "include_dir")

Reader = Callable[[str], str | None]  # path -> text, or None when the file does not exist
Lister = Callable[[str], list[str] | None]  # directory -> entry names, or None when it does not exist
Resolver = Callable[[str], list[str]]  # host name -> addresses (as strings)
ReverseResolver = Callable[[str], str | None]  # address -> host name
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def no_resolve(_name: str) -> list[str]:
    return []


def resolved(name: str, resolve: Resolver) -> list[IPAddress]:
    """The addresses `resolve` gives for host `name` (what is not an address left out)."""
    return [ip for ip in (parse_ip(text) for text in resolve(name)) if ip is not None]


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class Includes:
    """Shared include machinery: path resolution, depth limit, reading through the callables."""

    def __init__(self, read: Reader | None, list_dir: Lister | None, what: str) -> None:
        self.read = read
        self.list_dir = list_dir
        self.what = what

    @staticmethod
    def absolute(location: str, calling_file: str) -> str:
        if posixpath.isabs(location):
            return posixpath.normpath(location)
        return posixpath.normpath(posixpath.join(posixpath.dirname(calling_file), location))

    def _reader(self, where: str, target: str, chain: Sequence[str]) -> Reader:
        """The file reader, once ``target`` may be included from the end of ``chain``."""
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise FactError(f"{where}: cannot include {target}: maximum nesting depth ({MAX_INCLUDE_DEPTH}) "
                            f"exceeded (include loop?): {' -> '.join([*chain, target])}")
        if self.read is None:
            raise FactError(f"{where}: cannot include {target}: no file reader given")
        return self.read

    def file(self, directive: str, location: str, where: str, chain: Sequence[str]) -> tuple[str, str] | None:
        """(path, text) of an ``include``/``include_if_exists`` target; None when skipped."""
        if not location.strip():
            raise FactError(f"{where}: empty {self.what} file name in {directive}")
        target = self.absolute(location, chain[-1])
        text = self._reader(where, target, chain)(target)
        if text is None:
            if directive == "include_if_exists":
                return None
            raise FactError(f"{where}: could not open {self.what} file {target!r} ({directive}): no such file")
        return target, text

    def directory(self, location: str, where: str, chain: Sequence[str]) -> list[tuple[str, str]]:
        """(path, text) of each ``*.conf`` file of an ``include_dir``, in C-locale order, dotfiles skipped."""
        if not location.strip():
            raise FactError(f"{where}: empty {self.what} directory name in include_dir")
        target = self.absolute(location, chain[-1])
        read = self._reader(where, target, chain)
        if self.list_dir is None:
            raise FactError(f"{where}: cannot include directory {target}: no directory lister given")
        names = self.list_dir(target)
        if names is None:
            raise FactError(f"{where}: could not open {self.what} directory {target!r} (include_dir): "
                            "no such directory")
        paths = sorted(posixpath.join(target, name) for name in names
                       if not name.startswith(".") and name.endswith(".conf") and len(name) > len(".conf"))
        found = []
        for path in paths:
            text = read(path)
            if text is None:
                raise FactError(f"{where}: could not open {self.what} file {path!r} (include_dir): no such file")
            found.append((path, text))
        return found


def pg_isready_command(inventory: Inventory, address: str) -> tuple[str, ...]:
    """pg_isready for xCAT's database on `address`, as NodeFacts.run takes it (command, then its arguments).

    One form for every check that asks whether the database answers (pg.accepting, xcatd_reads).
    """
    db = inventory.database
    return "pg_isready -q -t 5 -h %s -p %s -d %s", address, str(db.port), db.name


# Where PostgreSQL's server binary lies: Debian's per-major tree, PGDG's RPMs, the distribution's RPM.
INSTALLED_SERVERS = (
    "for b in /usr/lib/postgresql/*/bin/postgres /usr/pgsql-*/bin/postgres /usr/bin/postgres; do "
    '[ -x "$b" ] && "$b" -V; done; true'
)


def installed_majors(text: str) -> list[int]:
    """The majors in ``postgres -V`` lines (``postgres (PostgreSQL) 15.5 (Debian 15.5-0+deb12u1)``), sorted."""
    majors = {int(m.group(1)) for m in re.finditer(r"^postgres \(PostgreSQL\) (\d+)", text, re.MULTILINE)}
    return sorted(majors)


def data_major(pg_version: str | None) -> int | None:
    """The major a data directory was made by, from its PG_VERSION file (``15``; ``9.6`` read as 9)."""
    found = re.match(r"\s*(\d+)", pg_version or "")
    return int(found.group(1)) if found else None


POSTMASTER_PID = "postmaster.pid"  # in the data directory, while a server runs on it (or one died)
# pg_controldata for the data directory given as $0: the binary of the major its PG_VERSION names, in
# Debian's, PGDG's or the distribution's place. C locale: the labels are read, not shown.
PG_CONTROLDATA = (
    'm=$(cat "$0/PG_VERSION" 2>/dev/null); '
    'for b in "/usr/lib/postgresql/$m/bin/pg_controldata" "/usr/pgsql-$m/bin/pg_controldata" /usr/bin/pg_controldata; '
    'do if [ -x "$b" ]; then LC_ALL=C exec "$b" "$0"; fi; done; echo "pg_controldata not found" >&2; exit 127'
)
# A process by PID ($0): its name, the directory it works in (a postmaster works in its data
# directory), then "same" when that is the directory $1 by identity (device and inode: see
# POSTGRES_IN_DIR); nothing when no such process lives.
PROCESS_AND_CWD = (
    'd=/proc/$0; [ -d "$d" ] || exit 0; cat "$d/comm"; readlink "$d/cwd"; '
    'w=$(stat -L -c %d:%i "$d/cwd" 2>/dev/null); [ -n "$w" ] && [ "$w" = "$(stat -L -c %d:%i "$1" 2>/dev/null)" ] '
    '&& echo same; true'
)
# Every postgres process working in the directory $0, as "PID PPID" lines (the postmaster and its children).
# By path, or by identity (device and inode): a server that kept running on a lazily unmounted share
# and the share mounted again has a working directory that reads as "/" yet is the same directory.
POSTGRES_IN_DIR = (
    'want=$(stat -L -c %d:%i "$0" 2>/dev/null); '
    'for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = postgres ] || continue; '
    'if [ "$(readlink "$d/cwd")" = "$0" ] '
    '|| { [ -n "$want" ] && [ "$(stat -L -c %d:%i "$d/cwd" 2>/dev/null)" = "$want" ]; }; '
    'then echo "${d#/proc/} $(cut -d" " -f4 "$d/stat")"; fi; done; true'
)


@dataclass(frozen=True)
class PostmasterPid:
    """``postmaster.pid``'s first lines: the postmaster's PID and the data directory it wrote this for."""

    pid: int
    data_dir: str


def parse_postmaster_pid(text: str | None) -> PostmasterPid | None:
    """The PID and data directory ``postmaster.pid`` names, None when it is absent or names no PID."""
    lines = (text or "").splitlines()
    if not lines or not lines[0].strip().isdigit() or int(lines[0]) <= 0:
        return None
    return PostmasterPid(int(lines[0]), lines[1].strip() if len(lines) > 1 else "")


def cluster_state(controldata: str) -> str | None:
    """``Database cluster state`` from pg_controldata's output (``shut down``, ``in production``, ...)."""
    found = re.search(r"^Database cluster state:\s*(.+?)\s*$", controldata, re.MULTILINE)
    return found.group(1) if found else None


def postmasters(output: str) -> list[int]:
    """From POSTGRES_IN_DIR's lines, the PIDs whose parent is none of them: the postmasters."""
    pairs = [(int(w[0]), int(w[1])) for w in (line.split() for line in output.splitlines())
             if len(w) == 2 and w[0].isdigit() and w[1].isdigit()]  # fmt: skip
    pids = {pid for pid, _ in pairs}
    return sorted(pid for pid, ppid in pairs if ppid not in pids)


def process_and_cwd(output: str) -> tuple[str, str, bool] | None:
    """(name, working directory, whether that is the directory asked about) from PROCESS_AND_CWD's
    output; None when the process does not live."""
    lines = [line.strip() for line in output.splitlines()]
    if not lines:
        return None
    return lines[0], lines[1] if len(lines) > 1 else "", lines[2:3] == ["same"]
