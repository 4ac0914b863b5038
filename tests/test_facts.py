"""Data-driven tests of the fact parsers: one harness, every ``tests/facts/<parser>/<case>.json``.

A case is ``{"description", "function", "input": {...}, "expected": ...}`` or, for a case that
must fail, ``"error": "substring of the FactError message"`` instead of ``expected``. ``function``
names what is run (see RUNNERS). Conventions for ``input``:

- any text (``text``, the values of ``files``, ``a``, ``b``) may be a list of lines: they are
  joined with newlines and end with one;
- ``files`` maps absolute path -> text, ``path`` names the file parsed first; ``read`` looks the
  dict up (None when absent) and ``list_dir`` lists the files directly under a directory
  (``dirs`` adds listings by hand: path -> names);
- ``resolve`` maps name -> [addresses], ``reverse`` maps address -> name;
- ``secret``: a string that must appear in no error message, ``repr`` or ``str`` of the result.

Nothing is contacted: addresses are TEST-NET or the seed's 10.5.x examples, used as strings.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xcatha_verify.facts.dhcpd import config_in_use, declared_subnets, has_omapi_key
from xcatha_verify.facts.hosts import (
    addresses_for,
    diff_hosts,
    names_for,
    normalise_hosts,
    parse_hosts,
)
from xcatha_verify.facts.ifcfg import parse_ifcfg
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.pg_conf import effective_listen_addresses, listen_covers, parse_postgresql_conf
from xcatha_verify.facts.pg_hba import HbaEntry, hba_allows, hba_covers, parse_pg_hba
from xcatha_verify.facts.pg_settings import SETTING_NAMES, command_line_listen, parse_server_settings
from xcatha_verify.facts.postgres import POSTGRES_IN_DIR, cluster_state, parse_postmaster_pid, postmasters
from xcatha_verify.facts.processes import parse_processes, role_processes
from xcatha_verify.facts.sockets import collides, parse_listening
from xcatha_verify.facts.xcat import parse_cfgloc, parse_lsdef, parse_tabdump

CASES = Path(__file__).parent / "facts"
MINIMUM_CASES = 40


def text(value: str | list[str]) -> str:
    return "".join(f"{line}\n" for line in value) if isinstance(value, list) else value


def files_of(inp: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(main path, main text, keyword arguments read/list_dir) for a case's input."""
    if "files" not in inp:
        return inp.get("path", "conf"), text(inp["text"]), {}
    files = {path: text(body) for path, body in inp["files"].items()}
    dirs: dict[str, list[str]] = {}
    for path in files:
        dirs.setdefault(posixpath.dirname(path), []).append(posixpath.basename(path))
    dirs.update(inp.get("dirs", {}))
    return inp["path"], files[inp["path"]], {"read": files.get, "list_dir": dirs.get}


def resolver(inp: dict[str, Any]) -> Callable[[str], list[str]]:
    table = inp.get("resolve", {})
    return lambda name: list(table.get(name, []))


def settings_of(inp: dict[str, Any]) -> dict[str, Any]:
    path, body, io = files_of(inp)
    return parse_postgresql_conf(body, path=path, **io)


def hba_of(inp: dict[str, Any]) -> list[HbaEntry]:
    path, body, io = files_of(inp)
    return parse_pg_hba(body, path=path, **io)


def render_hba(entry: HbaEntry) -> str:
    """``file:line: type dbs users [address [mask]] method [options]``; quoted tokens keep their quotes."""
    def tokens(values: tuple[str, ...]) -> str:
        return ",".join(f'"{v}"' if getattr(v, "quoted", False) else v for v in values)

    fields = [entry.type, tokens(entry.databases), tokens(entry.users), entry.address, entry.mask, entry.method,
              *entry.options]
    return f"{entry.file}:{entry.line}: " + " ".join(f for f in fields if f is not None)


def run_postgresql_conf(inp: dict[str, Any]) -> Any:
    return {name: [s.value, s.file, s.line] for name, s in settings_of(inp).items()}


def run_listen(inp: dict[str, Any]) -> Any:
    listen = effective_listen_addresses(settings_of(inp))
    resolve = resolver(inp)
    return {"listen": listen, "covers": {a: listen_covers(listen, a, resolve) for a in inp.get("addresses", [])}}


def run_pg_hba(inp: dict[str, Any]) -> Any:
    return [render_hba(entry) for entry in hba_of(inp)]


def run_hba_allows(inp: dict[str, Any]) -> Any:
    entries = hba_of(inp)
    reverse_table = inp.get("reverse")
    options: dict[str, Any] = {"server_addresses": inp.get("server_addresses", []), "resolve": resolver(inp),
                               "reverse": reverse_table.get if reverse_table is not None else None}
    results = []
    for query in inp["queries"]:
        kwargs = {**options, **{k: v for k, v in query.items() if k != "client"}}
        entry = hba_covers(entries, query["client"], **kwargs)
        allows = hba_allows(entries, query["client"], **kwargs)
        assert allows == (entry is not None and entry.method != "reject")
        results.append({**query, "allows": allows, "match": f"{entry.file}:{entry.line}" if entry else None})
    return results


def run_parse_hosts(inp: dict[str, Any]) -> Any:
    hosts = parse_hosts(text(inp["text"]))
    return {"entries": [[str(e.address), list(e.names), e.line] for e in hosts.entries],
            "problems": list(hosts.problems)}


def run_normalise_hosts(inp: dict[str, Any]) -> Any:
    return normalise_hosts(text(inp["text"]))


def run_diff_hosts(inp: dict[str, Any]) -> Any:
    return diff_hosts(text(inp["a"]), text(inp["b"]), inp["a_name"], inp["b_name"])


def run_hosts_lookups(inp: dict[str, Any]) -> Any:
    hosts = parse_hosts(text(inp["text"]))
    return {"names_for": {a: names_for(hosts, a) for a in inp.get("names_for", [])},
            "addresses_for": {n: [str(a) for a in addresses_for(hosts, n)] for n in inp.get("addresses_for", [])}}


def run_cfgloc(inp: dict[str, Any]) -> Any:
    cfg = parse_cfgloc(text(inp["text"]))
    secret = inp.get("secret")
    if secret:
        assert secret not in repr(cfg)
        assert secret not in str(cfg)
        assert secret not in cfg.redacted()
        assert secret not in cfg.public_text
    return {"engine": cfg.engine, "dbname": cfg.dbname, "host": cfg.host, "port": cfg.port, "user": cfg.user,
            "password": cfg.password, "redacted": cfg.redacted(), "public_text": cfg.public_text}


def run_lsdef(inp: dict[str, Any]) -> Any:
    return parse_lsdef(text(inp["text"]))


def run_tabdump(inp: dict[str, Any]) -> Any:
    return parse_tabdump(text(inp["text"]))


def run_ifcfg(inp: dict[str, Any]) -> Any:
    config = parse_ifcfg(text(inp["text"]), inp["path"])
    return {
        "device": config.device,
        "boot_addresses": [f"{a.address}/{a.prefix}" for a in config.boot_addresses(inp["interface"])],
        "problems": list(config.problems),
    }


def run_processes(inp: dict[str, Any]) -> Any:
    return [[p.pid, p.name] for p in role_processes(parse_processes(text(inp["text"])), inp["role"])]


def run_postgres_data_dir(inp: dict[str, Any]) -> Any:
    owner = parse_postmaster_pid(text(inp["postmaster_pid"]))
    return {"pid": owner.pid if owner else None, "data_dir": owner.data_dir if owner else None,
            "state": cluster_state(text(inp["controldata"])), "postmasters": postmasters(text(inp["postgres_in_dir"]))}


def run_server_settings(inp: dict[str, Any]) -> Any:
    server = parse_server_settings(text(inp["csv"]))
    after = {name: server.after_restart(name) for name in SETTING_NAMES}
    return {"running": {n: [s.value, s.origin, s.pending_restart] for n, s in server.running.items()},
            "after_restart": {n: [s.value, s.origin] for n, s in after.items() if s}}  # fmt: skip


def run_command_line_listen(inp: dict[str, Any]) -> Any:
    found = command_line_listen(text(inp["systemctl_cat"]))
    return list(found) if found else None


RUNNERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "parse_server_settings": run_server_settings,
    "command_line_listen": run_command_line_listen,
    "postgres_data_dir": run_postgres_data_dir,
    "parse_ifcfg": run_ifcfg,
    "parse_postgresql_conf": run_postgresql_conf,
    "effective_listen_addresses+listen_covers": run_listen,
    "parse_pg_hba": run_pg_hba,
    "parse_pg_hba+hba_allows": run_hba_allows,
    "parse_hosts": run_parse_hosts,
    "normalise_hosts": run_normalise_hosts,
    "diff_hosts": run_diff_hosts,
    "parse_hosts+names_for+addresses_for": run_hosts_lookups,
    "parse_cfgloc": run_cfgloc,
    "parse_lsdef": run_lsdef,
    "parse_tabdump": run_tabdump,
    "parse_processes+role_processes": run_processes,
}


def load_cases() -> list[Any]:
    return [pytest.param(json.loads(path.read_text()), id=f"{path.parent.name}/{path.stem}")
            for path in sorted(CASES.glob("*/*.json"))]


@pytest.mark.parametrize("case", load_cases())
def test_fact_case(case: dict[str, Any]) -> None:
    runner = RUNNERS[case["function"]]
    secret = case["input"].get("secret")
    if "error" in case:
        with pytest.raises(FactError) as info:
            runner(case["input"])
        message = str(info.value)
        assert case["error"] in message
        if secret:
            assert secret not in message
            assert secret not in repr(info.value)
    else:
        assert "expected" in case, "a case needs 'expected' or 'error'"
        assert runner(case["input"]) == case["expected"]


def test_cases_are_plentiful_and_well_formed() -> None:
    cases = list(CASES.glob("*/*.json"))
    assert len(cases) >= MINIMUM_CASES
    for path in cases:
        case = json.loads(path.read_text())
        assert case["function"] in RUNNERS, path
        assert ("expected" in case) != ("error" in case), path
        assert case.get("description"), path


def test_the_postgres_processes_in_a_directory_are_found_by_path_and_by_identity(tmp_path: Path) -> None:
    # The real script on real processes: a copy of sleep named postgres stands for a postmaster. By
    # identity: a server left running on a lazily unmounted share that was mounted again has a working
    # directory that reads as "/", yet it is the same directory (a symlink gives the same two readings).
    data, postgres, link = tmp_path / "data", tmp_path / "postgres", tmp_path / "link"
    data.mkdir()
    link.symlink_to(data)
    shutil.copy("/bin/sleep", postgres)
    server = subprocess.Popen([str(postgres), "60"], cwd=data)
    try:
        def found(directory: Path) -> list[int]:
            script = subprocess.run(["sh", "-c", POSTGRES_IN_DIR, str(directory)], capture_output=True, text=True)
            return postmasters(script.stdout)

        by_path, by_identity, elsewhere = found(data), found(link), found(tmp_path)
    finally:
        server.kill()
        server.wait()
    assert (by_path, by_identity, elsewhere) == ([server.pid], [server.pid], [])


DHCPD_UNIT = ("# /lib/systemd/system/dhcpd.service\n[Service]\n"
              "ExecStart=/usr/sbin/dhcpd -f -4 -q -cf /etc/dhcp/dhcpd.conf eth0\n")


@pytest.mark.parametrize(("ps_args", "unit", "expected"), [
    # The lab's dhcpd as ps prints it; an IPv6 daemon beside it is not the one makedhcp -n configures.
    ("/usr/sbin/dhcpd -6 -cf /etc/dhcp/dhcpd6.conf eth0\n/usr/sbin/dhcpd -f -4 -q -cf /etc/dhcp/dhcpd.conf eth0\n",
     "", ("/etc/dhcp/dhcpd.conf", "the running dhcpd's -cf")),
    ("/usr/sbin/dhcpd -f eth0\n", DHCPD_UNIT, ("/etc/dhcp/dhcpd.conf", "the running dhcpd's default")),
    # Not running: what its unit would start it with, a drop-in's ExecStart last.
    ("", DHCPD_UNIT + "# /etc/systemd/system/dhcpd.service.d/cf.conf\n[Service]\nExecStart=\n"
     "ExecStart=/usr/sbin/dhcpd -f -cf /srv/dhcpd.conf\n", ("/srv/dhcpd.conf", "its unit's ExecStart -cf")),
    ("", "", ("/etc/dhcp/dhcpd.conf", "its unit's ExecStart default")),
])  # fmt: skip
def test_the_dhcpd_configuration_in_use(ps_args: str, unit: str, expected: tuple[str, str]) -> None:
    assert config_in_use(ps_args, unit) == expected


def test_dhcpd_subnets_and_omapi_key_as_makedhcp_writes_them() -> None:
    text = ("#xCAT generated dhcp configuration\nomapi-port 7911;\nkey xcat_key {\n  algorithm hmac-md5;\n};\n"
            "omapi-key xcat_key;\nshared-network eth0 {\n  subnet 192.0.2.0 netmask 255.255.255.0 {\n  }\n}\n"
            "# subnet 198.51.100.0 netmask 255.255.255.0 {\n  subnet 203.0.113.0 netmask 255.255.0.255 {\n")
    assert [str(s) for s in declared_subnets(text)] == ["192.0.2.0/24"]  # commented and malformed left out
    assert has_omapi_key(text) and not has_omapi_key("# omapi-key xcat_key;\nkey xcat_key {};\n")


def test_listening_sockets_as_ss_prints_them() -> None:
    # Lines of `ss -Hlntup` on a lab node: a process name with blanks (xcatd renames itself), several
    # holders of one socket (apache2's workers), an IPv6 scoped address.
    text = ('udp UNCONN 0 0 0.0.0.0:67 0.0.0.0:* users:(("dhcpd",pid=3268,fd=7))\n'
            'tcp LISTEN 0 4096 *:3001 *:* users:(("xcatd: SSL list",pid=1841,fd=12))\n'
            'tcp LISTEN 0 511 *:80 *:* users:(("apache2",pid=1970,fd=4),("apache2",pid=1969,fd=4))\n'
            'tcp LISTEN 0 10 [fe80::88e2:98ff:feee:f954]%eth0:53 [::]:* users:(("named",pid=3439,fd=44))\n')
    found = [(s.protocol, s.address, s.port, s.processes) for s in parse_listening(text)]
    assert found == [("udp", "0.0.0.0", 67, (("dhcpd", 3268),)), ("tcp", "*", 3001, (("xcatd: SSL list", 1841),)),
                     ("tcp", "*", 80, (("apache2", 1970), ("apache2", 1969))),
                     ("tcp", "[fe80::88e2:98ff:feee:f954]%eth0", 53, (("named", 3439),))]  # fmt: skip
    with pytest.raises(FactError, match="not a listening socket"):
        parse_listening("State Recv-Q Send-Q\n")


def test_a_socket_collides_on_a_wildcard_or_the_nodes_own_addresses_only() -> None:
    own = {"192.0.2.10", "192.0.2.12"}  # the VIP, the node's static IP
    assert all(collides(a, own) for a in ("*", "0.0.0.0", "[::]", "192.0.2.12", "192.0.2.10%eth0"))
    # libvirt's dnsmasq on its bridge, a resolver stub on loopback: another address, no collision.
    assert not any(collides(a, own) for a in ("198.51.100.1", "127.0.0.53%lo", "[fe80::1]%eth0"))
