"""The inventory model: seed defaults, a full round trip, and one-line errors for malformed files."""

import copy
import dataclasses
import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from xcatha_verify.errors import InventoryError, UsageError
from xcatha_verify.facts.conditions import CONDITIONS
from xcatha_verify.inventory import (
    DEFAULT_INVENTORY_PATH,
    Inventory,
    SharedPath,
    load_inventory,
    parse_inventory,
)
from xcatha_verify.inventory import model as inv_mod
from xcatha_verify.shellsafe import is_shell_safe, unsafe_characters

HERE = Path(__file__).parent / "inventories"

BASE = {
    "cluster": "test",
    "vip": {"address": "192.0.2.7", "hostname": "xcatmn.cluster.example"},
    "nodes": [
        {"name": "xcatmn1", "target": "ssh://root@192.0.2.70", "static_ip": "192.0.2.70"},
        {"name": "xcatmn2", "target": "local", "static_ip": "192.0.2.5"},
    ],
}
DELETE = object()


def mutate(changes):
    """BASE with `changes` applied: {"nodes[1].static_ip": value}; DELETE removes the key."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.replace("[", ".").replace("]", "").split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        if value is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return data


def write(tmp_path, data, name="inventory.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_raw(tmp_path, raw: bytes, name="inventory.yml"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def load_error(path) -> str:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    assert "\r" not in message
    assert "Traceback" not in message
    return message


# (id, changes to BASE, key path that must appear, a fragment of what was expected or found)
MALFORMED = [
    # wrong types
    ("cluster-list", {"cluster": ["a"]}, "cluster", "found a list"),
    ("vip-string", {"vip": "192.0.2.7"}, "vip", "expected a mapping"),
    ("nodes-mapping", {"nodes": {"xcatmn1": "local"}}, "nodes", "expected a list"),
    ("node-string", {"nodes[0]": "xcatmn1"}, "nodes[0]", "expected a mapping"),
    ("prefix-string", {"vip.prefix": "24"}, "vip.prefix", "found '24'"),
    ("prefix-bool", {"vip.prefix": True}, "vip.prefix", "boolean"),
    ("prefix-float", {"nodes[0].prefix": 24.0}, "nodes[0].prefix", "found 24.0"),
    ("ip-int", {"vip.address": 3221225991}, "vip.address", "IPv4 or IPv6 address"),
    # missing required keys
    ("missing-cluster", {"cluster": DELETE}, "cluster", "required key is missing"),
    ("null-cluster", {"cluster": None}, "cluster", "required key is missing"),
    ("missing-vip-address", {"vip.address": DELETE}, "vip.address", "required key is missing"),
    ("missing-vip-hostname", {"vip.hostname": DELETE}, "vip.hostname", "required key is missing"),
    ("missing-nodes", {"nodes": DELETE}, "nodes", "required key is missing"),
    ("missing-node-name", {"nodes[1].name": DELETE}, "nodes[1].name", "required key is missing"),
    ("missing-node-target", {"nodes[0].target": DELETE}, "nodes[0].target", "required key is missing"),
    ("missing-static-ip", {"nodes[1].static_ip": DELETE}, "nodes[1].static_ip", "required key is missing"),
    # unknown keys
    ("unknown-top", {"clustr": "x"}, "clustr", "did you mean 'cluster'"),
    ("unknown-vip", {"vip.lable": "eth0:0"}, "vip.lable", "did you mean 'label'"),
    ("unknown-node", {"nodes[1].staticip": "192.0.2.6"}, "nodes[1].staticip", "unknown key"),
    ("unknown-database", {"database.prot": 5432}, "database.prot", "did you mean 'port'"),
    ("unknown-clock", {"clock.tolerance": 2}, "clock.tolerance", "tolerance_seconds"),
    ("unknown-two", {"vip.a": 1, "vip.b": 2}, "vip.a", "also unknown: b"),
    # addresses and prefixes
    ("bad-vip-ip", {"vip.address": "192.0.2.300"}, "vip.address", "found '192.0.2.300'"),
    ("bad-node-ip", {"nodes[0].static_ip": "xcatmn1"}, "nodes[0].static_ip", "IPv4 or IPv6 address"),
    ("multicast-vip", {"vip.address": "224.0.0.7"}, "vip.address", "unicast"),
    ("network-address-vip", {"vip.address": "192.0.2.0"}, "vip.address", "network or broadcast"),
    ("prefix-33", {"vip.prefix": 33}, "vip.prefix", "from 1 to 32"),
    ("prefix-0", {"vip.prefix": 0}, "vip.prefix", "from 1 to 32"),
    ("node-prefix-129", {"nodes[1].prefix": 129}, "nodes[1].prefix", "found 129"),
    ("version-mismatch", {"nodes[1].static_ip": "2001:db8::5"}, "nodes[1].static_ip", "IPv4 address"),
    ("vip-equals-static", {"nodes[0].static_ip": "192.0.2.7"}, "nodes[0].static_ip", "other than vip.address"),
    ("same-static-ip", {"nodes[1].static_ip": "192.0.2.70"}, "nodes[1].static_ip", "unlike nodes[0]"),
    ("vip-outside-subnet", {"nodes[0].prefix": 28}, "nodes[0].static_ip", "both nodes must"),
    ("vip-outside-vip-prefix", {"vip.prefix": 26}, "nodes[0].static_ip", "192.0.2.64/26"),
    # nodes
    ("three-nodes", {"nodes": [*BASE["nodes"], {"name": "x", "target": "local", "static_ip": "192.0.2.9"}]},
     "nodes", "exactly two nodes (the pair), found a list of 3 items"),
    ("one-node", {"nodes": [BASE["nodes"][0]]}, "nodes", "exactly two"),
    ("duplicate-node-name", {"nodes[1].name": "XCATMN1"}, "nodes[1].name", "other than nodes[0].name"),
    ("node-name-semicolon", {"nodes[0].name": "xcatmn1;reboot"}, "nodes[0].name", "RFC 1123"),
    ("node-name-space", {"nodes[0].name": "xcat mn1"}, "nodes[0].name", "RFC 1123"),
    ("node-name-newline", {"nodes[0].name": "xcatmn1\nreboot"}, "nodes[0].name", r"'xcatmn1\nreboot'"),
    ("node-name-dash", {"nodes[1].name": "-xcatmn2"}, "nodes[1].name", "RFC 1123"),
    ("both-local", {"nodes[0].target": "local"}, "nodes[1].target", "at most one node"),
    ("bare-user-host", {"nodes[0].target": "root@192.0.2.70"}, "nodes[0].target", "ssh://root@HOST"),
    ("bare-host", {"nodes[0].target": "xcatmn1"}, "nodes[0].target", "paramiko"),
    ("other-scheme", {"nodes[0].target": "paramiko://root@xcatmn1"}, "nodes[0].target", "ssh://[user@]host"),
    ("ssh-port-0", {"nodes[0].target": "ssh://root@xcatmn1:0"}, "nodes[0].target", "port from 1 to 65535"),
    ("ssh-port-big", {"nodes[0].target": "ssh://root@xcatmn1:65536"}, "nodes[0].target", "port"),
    ("ssh-bad-host", {"nodes[0].target": "ssh://root@xcat_mn1"}, "nodes[0].target", "host name"),
    ("ssh-bad-user", {"nodes[0].target": "ssh://ro;ot@xcatmn1"}, "nodes[0].target", "user name"),
    ("ssh-path", {"nodes[0].target": "ssh://root@xcatmn1/tmp"}, "nodes[0].target", "ssh://[user@]host"),
    ("network-config-relative", {"nodes[0].network_config": "ifcfg-eth0"}, "nodes[0].network_config",
     "absolute"),
    # VIP interface, label and names
    ("label-other-interface", {"vip.label": "eth1:0"}, "vip.label", "'eth0:<suffix>'"),
    ("label-command", {"vip.label": "eth0:0$(id)"}, "vip.label", "found 'eth0:0$(id)'"),
    ("label-too-long", {"vip.label": "eth0:0123456789a"}, "vip.label", "15 characters"),
    ("label-default-too-long", {"vip.interface": "enp0s31f6abcdef"}, "vip.label", "15 characters"),
    ("interface-colon", {"vip.interface": "eth0:1"}, "vip.interface", "no ':'"),
    ("interface-too-long", {"vip.interface": "enp0s31f6abcdefg"}, "vip.interface", "1-15"),
    ("hostname-metachar", {"vip.hostname": "xcatmn;id"}, "vip.hostname", "RFC 1123"),
    ("hostname-is-ip", {"vip.hostname": "192.0.2.7"}, "vip.hostname", "RFC 1123"),
    ("hostname-label-dash", {"vip.hostname": "xcatmn-.cluster.example"}, "vip.hostname", "RFC 1123"),
    ("cluster-space", {"cluster": "prod cluster"}, "cluster", "cluster name"),
    ("cluster-dollar", {"cluster": "$(reboot)"}, "cluster", "cluster name"),
    # services
    ("unknown-service", {"services": ["postgresql", "xcatd", "apache"]}, "services[2]", "found 'apache'"),
    ("duplicate-role", {"services": ["postgresql", "xcatd", "xcatd"]}, "services[2]", "each service role once"),
    ("two-databases", {"services": ["postgresql", "mariadb", "xcatd"]}, "services[1]",
     "single database role"),
    ("database-mismatch", {"database.type": "mariadb", "database.data_dir": "/var/lib/pgsql/data",
                           "services": ["postgresql", "xcatd"]}, "services[0]", "database.type (mariadb)"),
    ("ntpd-and-chronyd", {"services": ["postgresql", "xcatd", "ntpd", "chronyd"]}, "services", "not both"),
    ("xcatd-before-db", {"services": ["xcatd", "postgresql"]}, "services", "postgresql and then xcatd"),
    ("no-services", {"services": []}, "services", "postgresql and then xcatd"),
    ("unit-metachar", {"services": ["postgresql", "xcatd", {"role": "named", "unit": "named;reboot"}]},
     "services[2].unit", "systemd unit name"),
    ("unit-option", {"services": [{"role": "postgresql", "unit": "--force"}, "xcatd"]}, "services[0].unit",
     "systemd unit name"),
    ("duplicate-unit", {"services": ["postgresql", "xcatd", {"role": "named", "unit": "xcatd"}]},
     "services[2]", "each unit once, xcatd is listed twice"),
    ("service-unknown-key", {"services": [{"role": "postgresql", "unti": "pg"}, "xcatd"]}, "services[0].unti",
     "did you mean 'unit'"),
    ("service-list-item", {"services": [["postgresql"], "xcatd"]}, "services[0]", "found a list"),
    # shared data
    ("shared-not-list", {"shared_data": "/etc/xcat"}, "shared_data", "expected a list"),
    ("shared-empty", {"shared_data": []}, "shared_data", "at least one"),
    ("shared-relative", {"shared_data": ["install", "/var/lib/pgsql"]}, "shared_data[0]", "absolute"),
    ("shared-tilde", {"shared_data": ["~/.xcat", "/var/lib/pgsql"]}, "shared_data[0]", "absolute"),
    ("shared-dotdot", {"shared_data": ["/var/lib/pgsql", "/install/../etc"]}, "shared_data[1]", "normalised"),
    ("shared-trailing-slash", {"shared_data": ["/var/lib/pgsql/"]}, "shared_data[0]", "normalised"),
    ("shared-glob", {"shared_data": ["/var/lib/pgsql", "/install/*"]}, "shared_data[1]", "'*' not allowed"),
    ("shared-duplicate", {"shared_data": ["/var/lib/pgsql", "/install", "/install"]}, "shared_data[2]",
     "listed twice"),
    ("shared-bad-mode", {"shared_data": [{"path": "/var/lib/pgsql", "mode": "bind"}]}, "shared_data[0].mode",
     "mount, symlink"),
    ("symlink-without-root", {"shared_data": [{"path": "/var/lib/pgsql", "mode": "symlink"}]},
     "shared_data[0].root", "shared_root"),
    ("symlink-root-inside", {"shared_root": "/var/lib/pgsql/ha",
                             "shared_data": [{"path": "/var/lib/pgsql", "mode": "symlink"}]},
     "shared_data[0]", "outside"),
    ("mount-with-root", {"shared_data": [{"path": "/var/lib/pgsql", "root": "/HA"}]}, "shared_data[0].root",
     "mode symlink"),
    ("shared-bad-fstype", {"shared_data": [{"path": "/var/lib/pgsql", "fstype": "NFS"}]},
     "shared_data[0].fstype", "a-z0-9."),
    ("shared-bad-source", {"shared_data": [{"path": "/var/lib/pgsql", "source": "srv:/x y"}]},
     "shared_data[0].source", "' ' not allowed"),
    ("shared-bad-bind-source", {"shared_data": [{"path": "/var/lib/pgsql", "source": "/dev/sdb1[/x];id"}]},
     "shared_data[0].source", "'[];' not allowed"),
    ("shared-half-bind-source", {"shared_data": [{"path": "/var/lib/pgsql", "source": "/dev/sdb1[/x"}]},
     "shared_data[0].source", "'[' not allowed"),
    ("shared-root-relative", {"shared_root": "HA"}, "shared_root", "absolute"),
    ("data-dir-not-shared", {"shared_data": ["/etc/xcat", "/install"]}, "database.data_dir",
     "inside shared_data"),
    # database, clock, networks, ssh_config
    ("db-port-big", {"database.port": 70000}, "database.port", "from 1 to 65535"),
    ("db-port-string", {"database.port": "5432"}, "database.port", "found '5432'"),
    ("db-type", {"database.type": "oracle"}, "database.type", "postgresql, mariadb"),
    ("db-name", {"database.name": "xcat db"}, "database.name", "database name"),
    ("db-hba-relative", {"database.hba_file": "pg_hba.conf"}, "database.hba_file", "absolute"),
    ("db-clients-string", {"database.clients": "192.0.2.80"}, "database.clients", "expected a list"),
    ("db-clients-bad", {"database.clients": ["192.0.2.80", "sn1"]}, "database.clients[1]", "address"),
    ("database-list", {"database": ["postgresql"]}, "database", "expected a mapping"),
    ("clock-zero", {"clock.tolerance_seconds": 0}, "clock.tolerance_seconds", "positive"),
    ("clock-negative", {"clock.tolerance_seconds": -1.5}, "clock.tolerance_seconds", "found -1.5"),
    ("clock-string", {"clock.tolerance_seconds": "1s"}, "clock.tolerance_seconds", "positive"),
    ("clock-bool", {"clock.tolerance_seconds": True}, "clock.tolerance_seconds", "boolean"),
    ("clock-inf", {"clock.tolerance_seconds": float("inf")}, "clock.tolerance_seconds", "positive"),
    ("networks-string", {"mgt_networks": "net1"}, "mgt_networks", "expected a list"),
    ("networks-empty-name", {"mgt_networks": [""]}, "mgt_networks[0]", "network name"),
    ("networks-metachar", {"mgt_networks": ["net1", "net;rm"]}, "mgt_networks[1]", "';' not allowed"),
    ("networks-duplicate", {"mgt_networks": ["net1", "net1"]}, "mgt_networks[1]", "once"),
    ("ssh-config-relative", {"ssh_config": "ssh_config"}, "ssh_config", "absolute"),
    ("ssh-config-int", {"ssh_config": 5}, "ssh_config", "found 5"),
    ("vip-hostname-string", {"vip_hostname": "yes"}, "vip_hostname", "expected true or false"),
    ("vip-nameserver-int", {"vip_nameserver": 1}, "vip_nameserver", "expected true or false"),
]


@pytest.mark.parametrize(("changes", "key", "fragment"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_inventory(tmp_path, changes, key, fragment):
    path = write(tmp_path, mutate(changes))
    message = load_error(path)
    assert f"{path}: {key}: " in message
    assert fragment in message
    with pytest.raises(InventoryError) as info:
        parse_inventory(mutate(changes), "inline.yml")
    assert info.value.key == key
    assert info.value.path == "inline.yml"


# Whole-file problems: (id, raw bytes, fragment); the key path is empty, the file is named.
BROKEN_FILES = [
    ("empty", b"", "empty file"),
    ("only-comments", b"# nothing here\n", "empty file"),
    ("not-utf8", b"cluster: caf\xe9\n", "UTF-8"),
    ("not-utf8-line", b"cluster: a\nvip: \xff\n", "at line 2"),
    ("syntax", b"cluster: a\nvip: {address: 192.0.2.7\nnodes: []\n", "line 3"),
    ("bad-indent", b"cluster: a\n  vip: b\n", "line 2"),
    ("tab", b"cluster: a\nvip:\n\t- x\n", "line 3"),
    ("duplicate-key", b"cluster: a\nvip: {}\ncluster: b\n", "duplicate key 'cluster' at line 3"),
    ("two-documents", b"cluster: a\n---\ncluster: b\n", "single document"),
    ("control-char", b"cluster: a\x07b\n", "unacceptable character"),
    ("top-list", b"- cluster\n- vip\n", "mapping of inventory keys at the top level, found a list"),
    ("top-scalar", b"cluster\n", "found 'cluster'"),
    # The limits (issue 15), met while YAML composes its tree: named at their key, before any object is built.
    ("int-5000-digits", b"cluster: " + b"9" * 5000 + b"\n",
     "cluster: expected an integer of at most 20 digits, found one of 5000 at line 1, column 10"),
    ("hex-5000-digits", b"vip: {prefix: 0x" + b"f" * 5000 + b"}\n", "vip.prefix: expected an integer of at most 20"),
    ("nested-5000", b"cluster: " + b"[" * 5000 + b"]" * 5000 + b"\n", "expected at most 32 levels of nesting"),
    ("nested-33", b"nodes: " + b"[" * 32 + b"]" * 32 + b"\n", "nodes" + "[0]" * 31 + ": expected at most 32 levels"),
    ("nested-by-alias", b"a: &a " + b"[" * 30 + b"]" * 30 + b"\nb: [[*a]]\n", "b[0]: expected at most 32 levels"),
    ("billion-laughs", b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%c: &%c [%s]\n" % (98 + i, 98 + i, b", ".join([b"*%c" % (97 + i)] * 10)) for i in range(6)),
     "expected at most 20000 values in the file (each alias counted as what it stands for)"),
    ("tag-int", b"cluster: !!int abc\n", "expected valid YAML; cannot read 'abc' as !!int at line 1, column 10"),
    ("tag-bool", b"cluster: !!bool maybe\n", "cannot read 'maybe' as !!bool"),
    ("tag-timestamp", b"cluster: !!timestamp x\n", "cannot read 'x' as !!timestamp"),
    ("escaped-controls", b'cluster: "a\\e[2Jb\\nc\\u2028"\n', r"found 'a\x1b[2Jb\nc\u2028'"),
    ("long-unknown-key", b"? " + b"k" * 5000 + b"\n: 1\n", f"'{'k' * 39}... (5002 characters): unknown key"),
]


@pytest.mark.parametrize(("raw", "fragment"), [c[1:] for c in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES])
def test_broken_file(tmp_path, raw, fragment):
    path = tmp_path / "inventory.yml"
    path.write_bytes(raw)
    message = load_error(path)
    assert message.startswith(f"inventory error: {path}: ")
    assert fragment in message


def test_missing_file(tmp_path):
    assert "file not found" in load_error(tmp_path / "absent.yml")


def test_unreadable_directory(tmp_path):
    assert "expected a regular file, found a directory; not read" in load_error(tmp_path)


def test_just_within_the_limits_is_judged_by_the_rules(tmp_path):
    # 32 levels, a 20-digit integer, 1 MiB: the file is read and composed, and refused by the key's own rule.
    assert "cluster: expected a cluster name" in load_error(write_raw(tmp_path, b"cluster: " + b"[" * 31 + b"]" * 31))
    prefix = b"cluster: a\nvip: {address: 192.0.2.7, prefix: " + b"9" * 20 + b", hostname: h.example}\n"
    assert "vip.prefix: expected an IPv4 prefix length from 1 to 32, found 99999999999999999999" in load_error(
        write_raw(tmp_path, prefix))
    padded = (HERE / "minimal.yml").read_bytes()
    padded += b"#" * ((1 << 20) - len(padded) - 1) + b"\n"
    assert len(padded) == 1 << 20
    assert load_inventory(write_raw(tmp_path, padded)).cluster == "test"


def test_a_file_name_with_control_characters_is_escaped_in_one_line(tmp_path):
    path = write_raw(tmp_path, b"cluster: [\n", "in\nventory\x1b[2J\u2028.yml")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    escaped = f"{tmp_path}/in\\nventory\\x1b[2J\\u2028.yml"
    assert str(info.value).startswith(f"inventory error: {escaped}: expected valid YAML")
    assert str(info.value).isprintable() and info.value.path == str(path)


def test_default_path(monkeypatch, tmp_path):
    assert DEFAULT_INVENTORY_PATH == "/etc/xcatha/inventory.yml"
    monkeypatch.setattr(inv_mod, "DEFAULT_INVENTORY_PATH", str(tmp_path / "default.yml"))
    assert f"{tmp_path / 'default.yml'}: file not found" in load_error(tmp_path / "default.yml")
    with pytest.raises(InventoryError, match=r"default\.yml: file not found"):
        load_inventory()
    write(tmp_path, BASE, "default.yml")
    assert load_inventory().source == str(tmp_path / "default.yml")


def test_error_is_usage_error(tmp_path):
    with pytest.raises(UsageError) as info:
        load_inventory(tmp_path / "absent.yml")
    assert info.value.exit_status == 2


# --- positive -------------------------------------------------------------------------------------------


def test_minimal_inventory_gets_seed_defaults():
    path = HERE / "minimal.yml"
    assert len(path.read_text().splitlines()) <= 10
    inv = load_inventory(path)
    assert inv.source == str(path)
    assert inv.cluster == "test"
    assert inv.vip.address == ipaddress.ip_address("192.0.2.7")
    assert (inv.vip.prefix, inv.vip.interface, inv.vip.label) == (24, "eth0", "eth0:0")
    assert inv.vip.short_name == "xcatmn"
    assert inv.node_names == ("xcatmn1", "xcatmn2")
    for node in inv.nodes:
        assert node.prefix == 24
        assert node.network_config == "/etc/sysconfig/network-scripts/ifcfg-eth0"
    assert [s.path for s in inv.shared_data] == ["/etc/xcat", "/install", "/root/.xcat", "/var/lib/pgsql",
                                                 "/tftpboot"]
    assert {(s.mode, s.source, s.fstype, s.root) for s in inv.shared_data} == {("mount", None, None, None)}
    assert [s.role for s in inv.services] == ["postgresql", "xcatd", "named", "dhcpd", "ntpd", "conserver",
                                              "goconserver"]
    assert all(s.unit == s.role for s in inv.services)
    db = inv.database
    assert (db.type, db.data_dir, db.hba_file, db.conf_file, db.cfgloc, db.port, db.name) == (
        "postgresql", "/var/lib/pgsql/data", "/var/lib/pgsql/data/pg_hba.conf",
        "/var/lib/pgsql/data/postgresql.conf", "/etc/xcat/cfgloc", 5432, "xcatdb")
    assert inv.clock.tolerance_seconds == 1.0
    assert inv.mgt_networks == ()
    assert inv.ssh_config is None


def test_full_inventory():
    inv = load_inventory(HERE / "full.yml")
    assert inv.vip.label == "eth0:ha"
    one, two = inv.nodes
    assert (one.target, one.prefix, one.is_local) == ("ssh://root@192.0.2.70:2222", 25, False)
    assert (two.target, two.prefix) == ("ssh://admin@xcatmn2.cluster.example", 24)
    assert inv.ssh_config == "/etc/xcatha/ssh_config"
    assert inv.shared_data[0] == SharedPath("/install")
    assert inv.shared_data[1] == SharedPath("/etc/xcat", "symlink", root="/HA")
    assert inv.shared_data[2].root == "/HA2"
    assert inv.shared_data[3] == SharedPath("/var/lib/pgsql", "mount", "nfs.cluster.example:/export/pgsql",
                                            "nfs4")
    assert inv.services[2].unit == "named.service"
    assert inv.clock.tolerance_seconds == 0.5
    assert inv.mgt_networks == ("192_0_2_0-255_255_255_0",)
    assert (inv.vip_hostname, inv.vip_nameserver) == (True, True)
    assert [str(a) for a in inv.database.clients] == ["192.0.2.80", "2001:db8::80"]


@pytest.mark.parametrize("name", ["minimal.yml", "full.yml"])
def test_round_trip(tmp_path, name):
    inv = load_inventory(HERE / name)
    data = inv.to_dict()
    assert "source" not in data
    assert json.loads(json.dumps(data)) == data  # plain data only
    assert parse_inventory(data, inv.source) == inv
    copy_path = write(tmp_path, data)
    assert dataclasses.replace(load_inventory(copy_path), source=inv.source) == inv


def test_nodes_peers_and_lookup():
    inv = load_inventory(HERE / "minimal.yml")
    assert inv.node("xcatmn2").is_local
    assert inv.peer_of("xcatmn1").name == "xcatmn2"
    assert inv.peer_of("xcatmn2").name == "xcatmn1"
    with pytest.raises(UsageError, match=r"unknown node 'xcatmn3'.*known nodes: xcatmn1, xcatmn2"):
        inv.node("xcatmn3")
    with pytest.raises(UsageError, match="xcatmn3"):
        inv.peer_of("xcatmn3")


def test_service_conditions_are_the_runbooks_when():
    inv = load_inventory(HERE / "minimal.yml")
    conditions = {s.role: s.condition for s in inv.services}
    assert conditions == {"postgresql": None, "xcatd": None, "named": "site_domain", "dhcpd": "site_domain",
                          "ntpd": None, "conserver": "console_server:conserver",
                          "goconserver": "console_server:goconserver"}
    assert {c for c in conditions.values() if c} <= set(CONDITIONS)


def test_model_is_frozen():
    inv = load_inventory(HERE / "minimal.yml")
    assert isinstance(inv, Inventory)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inv.cluster = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("target", "stored"), [
    ("ssh://xcatmn1", "ssh://xcatmn1"),
    ("ssh://root@xcatmn1.cluster.example:22", "ssh://root@xcatmn1.cluster.example:22"),
    ("ssh://root@[2001:db8::70]:2222", "ssh://root@[2001:db8::70]:2222"),
    ("local://", "local"),
])
def test_accepted_targets(target, stored):
    inv = parse_inventory(mutate({"nodes[1].target": target}), "t.yml")
    assert inv.nodes[1].target == stored


def test_null_optional_keys_take_defaults():
    inv = parse_inventory(mutate({"services": None, "shared_data": None, "clock": None, "ssh_config": None,
                                  "vip.label": None, "nodes[0].prefix": None}), "t.yml")
    assert inv == parse_inventory(BASE, "t.yml")


def test_ipv6_pair():
    inv = parse_inventory(mutate({"vip.address": "2001:db8::7", "vip.prefix": 64,
                                  "nodes[0].static_ip": "2001:db8::70", "nodes[1].static_ip": "2001:db8::5",
                                  "nodes[0].target": "ssh://root@[2001:db8::70]"}), "t.yml")
    assert inv.vip.address in ipaddress.ip_network("2001:db8::/64")
    assert inv.nodes[1].prefix == 64


def test_mariadb_defaults():
    inv = parse_inventory(mutate({"database.type": "mariadb",
                                  "shared_data": ["/etc/xcat", "/install", "/var/lib/mysql"]}), "t.yml")
    db = inv.database
    assert (db.data_dir, db.hba_file, db.conf_file, db.port) == ("/var/lib/mysql", None, "/etc/my.cnf", 3306)
    assert inv.services[0].role == "mariadb"


def test_symlink_data_dir_inside_shared_root():
    inv = parse_inventory(mutate({"shared_root": "/HA", "shared_data": [
        {"path": "/var/lib/pgsql", "mode": "symlink"}, "/etc/xcat"]}), "t.yml")
    assert inv.shared_data[0].root == "/HA"


def test_a_mount_source_may_take_each_form_findmnt_and_mount_know():
    forms = ["nfs1:/export/xcat", "/dev/sdb1", "UUID=3f1c9a2e-0b7d-4c5e-9a51-1d2b3c4d5e6f", "/dev/sdb1[/ha/pgsql]",
             "xcatha-lab-fs[/shared/var-lib-pgsql]"]  # fmt: skip
    for form in forms:
        inv = parse_inventory(mutate({"shared_data": [{"path": "/var/lib/pgsql", "source": form}]}), "t.yml")
        assert inv.shared_data[0].source == form


def test_shellsafe_helpers():
    assert unsafe_characters("eth0:0$(id)") == "$()"
    assert unsafe_characters("a b\nc") == " \n"
    assert is_shell_safe("/var/lib/pgsql")
    assert not is_shell_safe("")
    assert not is_shell_safe("xcatmn1;reboot")


def test_example_files_use_test_net_only():
    for name in ("minimal.yml", "full.yml"):
        data = yaml.safe_load((HERE / name).read_text())
        addresses = [data["vip"]["address"]] + [n["static_ip"] for n in data["nodes"]]
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("192.0.2.0/24") for a in addresses)
