"""The prepare edits as data: file text in, the diff's removed/added lines out, and idempotence for every case.

Each case gives the text, what is required, and the exact lines the diff must remove (``minus``) and add
(``plus``); ``minus == plus == []`` means no change. Every case then applies the same function to
``edit.after`` and expects nothing left to do, and checks the edit never drops or reorders a line
(removed lines are only ever replaced one for one). Addresses are the seed's 10.5.106.x or TEST-NET,
used as strings; nothing is contacted.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest

from xcatha_verify.facts.xcat import parse_lsdef
from xcatha_verify.inventory import parse_inventory
from xcatha_verify.runbook_engine.edits import (
    Edit,
    EditRefused,
    backup_path,
    ensure_hba_entries,
    ensure_hosts_entry,
    ensure_listen_addresses,
    hba_required,
    hosts_names,
    listen_required,
    mgtifname_commands,
    policy_commands,
    site_master_commands,
)

CONF = "/var/lib/pgsql/data/postgresql.conf"
HBA = "/var/lib/pgsql/data/pg_hba.conf"
HOSTS = "/etc/hosts"
VIP, MN1, MN2 = "10.5.106.7", "10.5.106.70", "10.5.106.5"  # the seed's VIP, xcatmn1, xcatmn2
SEED_REQUIRED = [VIP, MN1, MN2]
LISTEN_COMMENT = "# xcatha-verify prepare: the VIP and every management node's static IP"
SEED_WHY = {VIP: "the VIP xcatmn.cluster.com", MN1: "xcatmn1's static IP", MN2: "xcatmn2's static IP"}


def lines(*items: str) -> str:
    return "".join(f"{item}\n" for item in items)


def diff_lines(edit: Edit) -> tuple[list[str], list[str]]:
    """(removed, added) lines of the edit's unified diff, headers left out."""
    body = edit.diff.splitlines()[2:]
    return ([line[1:] for line in body if line.startswith("-")],
            [line[1:] for line in body if line.startswith("+")])


def check(edit: Edit, again: Callable[[str], Edit], minus: list[str], plus: list[str]) -> None:
    """The diff is exactly minus/plus, lines are only added or changed in place, and a second run is a noop."""
    assert diff_lines(edit) == (minus, plus)
    assert edit.changed is bool(minus or plus)
    if not edit.changed:
        assert edit.diff == ""
        assert edit.after == edit.before
    else:
        assert edit.diff.startswith(f"--- {edit.path} (before)\n+++ {edit.path} (after)\n")
    matcher = difflib.SequenceMatcher(a=edit.before.splitlines(), b=edit.after.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert", "replace"), f"a line was dropped: {tag} {i1}:{i2}"
        if tag == "replace":
            assert i2 - i1 == j2 - j1, "lines are changed one for one, never merged or reordered"
    second = again(edit.after)
    assert second.changed is False, second.diff
    assert second.diff == ""
    assert edit.reason


# ----------------------------------------------------------------------------------- listen_addresses

SEED_LINE = "listen_addresses = 'localhost,10.5.106.7,10.5.106.70'"
SEED_TYPO = "listen_addresses = 'localhost,10.5.106.7,10.5.106.70,10.5.105.5'"
SEED_FIXED = "listen_addresses = 'localhost,10.5.106.7,10.5.106.70,10.5.106.5'"
APPENDED_DEFAULT = "listen_addresses = 'localhost,10.5.106.7,10.5.106.70,10.5.106.5'"
DEFAULT_CONF = lines(
    "# -----------------------------",
    "# PostgreSQL configuration file",
    "# -----------------------------",
    "",
    "#listen_addresses = 'localhost'\t\t# what IP address(es) to listen on;",
    "\t\t\t\t\t# comma-separated list of addresses;",
    "#port = 5432\t\t\t\t# (change requires restart)",
    "max_connections = 100\t\t\t# (change requires restart)",
)

LISTEN_CASES = [
    pytest.param(lines("port = 5432", SEED_LINE, "max_connections = 100"), SEED_REQUIRED, {},
                 [SEED_LINE], [SEED_FIXED], id="seed-primary-gains-xcatmn2"),
    pytest.param(lines(SEED_TYPO), SEED_REQUIRED, {},
                 [SEED_TYPO], ["listen_addresses = 'localhost,10.5.106.7,10.5.106.70,10.5.105.5,10.5.106.5'"],
                 id="seed-typo-kept-and-right-address-added"),
    pytest.param(lines(SEED_FIXED), SEED_REQUIRED, {}, [], [], id="seed-complete-noop"),
    pytest.param(lines("# keep me", "listen_addresses = 'localhost'\t\t# what IP address(es) to listen on;",
                       "# and me"), [VIP], {},
                 ["listen_addresses = 'localhost'\t\t# what IP address(es) to listen on;"],
                 ["listen_addresses = 'localhost,10.5.106.7'\t\t# what IP address(es) to listen on;"],
                 id="trailing-comment-kept"),
    pytest.param(DEFAULT_CONF, SEED_REQUIRED, {}, [], [LISTEN_COMMENT, APPENDED_DEFAULT],
                 id="unset-appended-with-localhost"),
    pytest.param("", [VIP], {}, [], [LISTEN_COMMENT, "listen_addresses = 'localhost,10.5.106.7'"],
                 id="empty-file"),
    pytest.param("port = 5432", [VIP], {}, [], [LISTEN_COMMENT, "listen_addresses = 'localhost,10.5.106.7'"],
                 id="no-final-newline"),
    pytest.param(lines("listen_addresses = '*'"), SEED_REQUIRED, {}, [], [], id="star-covers"),
    pytest.param(lines("listen_addresses = '0.0.0.0'"), SEED_REQUIRED, {}, [], [], id="ipv4-wildcard-covers"),
    pytest.param(lines("listen_addresses = '0.0.0.0'"), [VIP, "2001:db8::7"], {},
                 ["listen_addresses = '0.0.0.0'"], ["listen_addresses = '0.0.0.0,2001:db8::7'"],
                 id="ipv4-wildcard-lacks-ipv6"),
    pytest.param(lines("listen_addresses = 'localhost'", "listen_addresses='10.5.106.7'   # HA"), [VIP, MN2], {},
                 ["listen_addresses='10.5.106.7'   # HA"], ["listen_addresses='10.5.106.7,10.5.106.5'   # HA"],
                 id="last-assignment-rewritten-only"),
    pytest.param(lines("listen_addresses = localhost"), [VIP], {},
                 ["listen_addresses = localhost"], ["listen_addresses = 'localhost,10.5.106.7'"],
                 id="unquoted-value"),
    pytest.param(lines("LISTEN_ADDRESSES 'localhost, 10.5.106.7'"), [VIP, MN1], {},
                 ["LISTEN_ADDRESSES 'localhost, 10.5.106.7'"], ["LISTEN_ADDRESSES 'localhost, 10.5.106.7,10.5.106.70'"],
                 id="upper-case-no-equals-spacing-kept"),
    pytest.param(lines("listen_addresses = ''"), [VIP], {},
                 ["listen_addresses = ''"], ["listen_addresses = '10.5.106.7'"], id="explicit-empty"),
    pytest.param(lines("listen_addresses = 'localhost,xcatmn2'"), [MN2], {"resolve": {"xcatmn2": [MN2]}},
                 [], [], id="host-name-member-covers"),
    pytest.param(lines("listen_addresses = '*'", "include 'ha.conf'"), [VIP, MN1],
                 {"files": {"/var/lib/pgsql/data/ha.conf": lines("listen_addresses = 'localhost, 10.5.106.7'")}},
                 [], [LISTEN_COMMENT, "listen_addresses = 'localhost, 10.5.106.7,10.5.106.70'"],
                 id="set-in-include-override-appended"),
    pytest.param(lines("include_if_exists 'ha.conf'"), [VIP],
                 {"files": {"/var/lib/pgsql/data/ha.conf": lines("listen_addresses = '10.5.106.7'")}},
                 [], [], id="include-already-covers"),
]


def listen_options(options: dict) -> dict:
    files = options.get("files", {})
    resolve = options.get("resolve", {})
    return {"read": files.get, "resolve": lambda name: resolve.get(name, [])}


@pytest.mark.parametrize(("text", "required", "options", "minus", "plus"), LISTEN_CASES)
def test_listen_addresses(text, required, options, minus, plus):
    kwargs = listen_options(options)
    edit = ensure_listen_addresses(text, CONF, required, **kwargs)
    assert edit.path == CONF
    check(edit, lambda after: ensure_listen_addresses(after, CONF, required, **kwargs), minus, plus)


def test_listen_addresses_reason_names_the_include():
    edit = ensure_listen_addresses(lines("include 'ha.conf'"), CONF, [MN2],
                                   read={"/var/lib/pgsql/data/ha.conf": lines("listen_addresses = 'localhost'")}.get)
    assert "/var/lib/pgsql/data/ha.conf:1" in edit.reason
    assert "10.5.106.5" in edit.reason


# ----------------------------------------------------------------------------------- pg_hba.conf

RHEL_HBA = lines(
    "# TYPE  DATABASE        USER            ADDRESS                 METHOD",
    "",
    '# "local" is for Unix domain socket connections only',
    "local   all             all                                     peer",
    "# IPv4 local connections:",
    "host    all             all             127.0.0.1/32            ident",
    "# IPv6 local connections:",
    "host    all             all             ::1/128                 ident",
)
SEED_HBA_VIP = "host    all          all        10.5.106.7/32      md5 "  # the seed's trailing blank, too
HBA_MN1 = ["# xcatha-verify prepare: xcatmn1's static IP", "host    all          all        10.5.106.70/32     md5"]
HBA_MN2 = ["# xcatha-verify prepare: xcatmn2's static IP", "host    all          all        10.5.106.5/32      md5"]
SCRAM_HBA = lines(
    "local   all   all                     peer",
    "host    all   all   127.0.0.1/32      scram-sha-256",
    "host    all   all   ::1/128           scram-sha-256",
    "host    all   all   192.0.2.0/24      md5",
)

HBA_CASES = [
    pytest.param(RHEL_HBA + lines(SEED_HBA_VIP), SEED_WHY, {}, [], HBA_MN1 + HBA_MN2,
                 id="seed-primary-gains-both-static-ips"),
    pytest.param(RHEL_HBA, {MN2: "xcatmn2's static IP"}, {}, [], HBA_MN2, id="seed-line-shape-exact"),
    pytest.param(lines(SEED_HBA_VIP, "host    all          all        10.5.106.70/32     md5",
                       "host    all          all        10.5.106.5/32      md5"), SEED_WHY, {}, [], [],
                 id="seed-complete-noop"),
    pytest.param(lines("host all all 10.0.0.0/8 md5   # the whole provisioning net"), SEED_WHY, {}, [], [],
                 id="slash-8-covers"),
    pytest.param(lines("host all all 10.5.106.0 255.255.255.0 md5"), SEED_WHY, {}, [], [],
                 id="address-and-netmask-cover"),
    pytest.param(lines("host all all samenet md5"), SEED_WHY, {"server_addresses": ["10.5.106.70/24"]}, [], [],
                 id="samenet-covers"),
    pytest.param(lines("host all baduser 10.0.0.0/8 reject", "host postgres all 10.5.106.0/24 md5"),
                 {MN2: "xcatmn2's static IP"}, {}, [], HBA_MN2, id="other-user-reject-and-other-db-do-not-count"),
    pytest.param(SCRAM_HBA, {"192.0.2.5": "xcatmn2's static IP"}, {}, [], [], id="covered-in-mostly-scram-file"),
    pytest.param(SCRAM_HBA, {"198.51.100.5": "xcatmn2's static IP"}, {}, [],
                 ["# xcatha-verify prepare: xcatmn2's static IP",
                  "host    all          all        198.51.100.5/32    scram-sha-256"],
                 id="mostly-scram-detected"),
    pytest.param(lines("host all all 127.0.0.1/32 scram-sha-256", "host all all ::1/128 md5"),
                 {"198.51.100.5": "xcatmn2's static IP"}, {}, [],
                 ["# xcatha-verify prepare: xcatmn2's static IP",
                  "host    all          all        198.51.100.5/32    md5"],
                 id="half-scram-is-md5"),
    pytest.param(RHEL_HBA, {"2001:db8::5": "xcatmn2's static IP"}, {}, [],
                 ["# xcatha-verify prepare: xcatmn2's static IP",
                  "host    all          all        2001:db8::5/128    md5"],
                 id="ipv6-slash-128"),
    pytest.param(RHEL_HBA, {MN2: "xcatmn2's static IP"},
                 {"database": "xcatdb", "user": "xcatadm", "method": "scram-sha-256"}, [],
                 ["# xcatha-verify prepare: xcatmn2's static IP",
                  "host    xcatdb       xcatadm    10.5.106.5/32      scram-sha-256"],
                 id="explicit-columns-and-method"),
    pytest.param("host all all 192.0.2.0/24 md5", {MN2: "xcatmn2's static IP"}, {}, [], HBA_MN2,
                 id="no-final-newline"),
]


@pytest.mark.parametrize(("text", "required", "options", "minus", "plus"), HBA_CASES)
def test_hba_entries(text, required, options, minus, plus):
    edit = ensure_hba_entries(text, HBA, required, **options)
    check(edit, lambda after: ensure_hba_entries(after, HBA, required, **options), minus, plus)


def test_hba_covered_by_md5_line_is_noop():
    edit = ensure_hba_entries(SCRAM_HBA, HBA, {"192.0.2.70": "xcatmn1's static IP"})
    assert not edit.changed
    assert edit.reason.startswith("noop:")


@pytest.mark.parametrize(("text", "required", "options", "names"), [
    pytest.param(lines("host all all 10.5.106.5/32 reject", SEED_HBA_VIP), SEED_WHY, {},
                 ["pg_hba.conf:1", "10.5.106.5", "xcatmn2's static IP"], id="reject-for-the-address"),
    pytest.param(RHEL_HBA + lines("host all all 0.0.0.0/0 reject"), {MN2: "xcatmn2's static IP"}, {},
                 ["pg_hba.conf:9", "0.0.0.0/0 reject"], id="catch-all-reject-at-the-end"),
    pytest.param(lines("host xcatdb xcatadm 10.5.106.0/24 reject"), {MN2: "why"}, {},
                 ["pg_hba.conf:1"], id="reject-for-the-cfgloc-user"),
    pytest.param(RHEL_HBA, {MN2: "why"}, {"database": "postgres"},
                 ["would not admit 10.5.106.5"], id="appended-line-would-not-match"),
    pytest.param(RHEL_HBA, {"xcatmn2": "why"}, {}, ["'xcatmn2'", "not an IP address"], id="not-an-address"),
])
def test_hba_refused(text, required, options, names):
    with pytest.raises(EditRefused) as raised:
        ensure_hba_entries(text, HBA, required, **options)
    assert isinstance(raised.value, ValueError)
    for name in names:
        assert name in str(raised.value)


# ----------------------------------------------------------------------------------- /etc/hosts

BASE_HOSTS = lines(
    "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4",
    "::1         localhost localhost.localdomain localhost6 localhost6.localdomain6",
    "# management nodes",
    "10.5.106.70 xcatmn1.cluster.com xcatmn1",
    "10.5.106.5  xcatmn2.cluster.com xcatmn2   # the backup",
)
VIP_NAMES = ["xcatmn.cluster.com", "xcatmn"]

HOSTS_CASES = [
    pytest.param(BASE_HOSTS, VIP, VIP_NAMES, {}, [], ["10.5.106.7\txcatmn.cluster.com xcatmn"], id="vip-appended"),
    pytest.param(BASE_HOSTS, VIP, VIP_NAMES, {"why": "the VIP"}, [],
                 ["# xcatha-verify prepare: the VIP", "10.5.106.7\txcatmn.cluster.com xcatmn"], id="with-why"),
    pytest.param(lines("10.5.106.7 xcatmn1 xcatmn1.cluster.com"), VIP, ["xcatmn1.cluster.com", "xcatmn1"], {},
                 [], [], id="seed-line-any-order-noop"),
    pytest.param(lines("10.5.106.7 XCATMN.Cluster.COM xcatmn"), VIP, VIP_NAMES, {}, [], [],
                 id="case-insensitive-noop"),
    pytest.param(BASE_HOSTS + lines("10.5.106.7  xcatmn   # the VIP"), VIP, VIP_NAMES, {},
                 ["10.5.106.7  xcatmn   # the VIP"], ["10.5.106.7  xcatmn xcatmn.cluster.com   # the VIP"],
                 id="missing-name-added-comment-kept"),
    pytest.param(lines("10.5.106.7 xcatmn", "10.5.106.7 vip"), VIP, [*VIP_NAMES, "vip"], {},
                 ["10.5.106.7 xcatmn"], ["10.5.106.7 xcatmn xcatmn.cluster.com"], id="first-line-for-address-gains"),
    pytest.param("10.5.106.7 xcatmn\r\n# end\r\n", VIP, VIP_NAMES, {},
                 ["10.5.106.7 xcatmn"], ["10.5.106.7 xcatmn xcatmn.cluster.com"], id="crlf"),
    pytest.param(lines("2001:db8::7 xcatmn.cluster.com xcatmn"), VIP, VIP_NAMES, {}, [],
                 ["10.5.106.7\txcatmn.cluster.com xcatmn"], id="dual-stack-not-a-conflict"),
    pytest.param(lines("2001:db8::7 xcatmn"), "2001:0db8::0007", VIP_NAMES, {},
                 ["2001:db8::7 xcatmn"], ["2001:db8::7 xcatmn xcatmn.cluster.com"], id="ipv6-compared-as-address"),
    pytest.param("", VIP, ["xcatmn.cluster.com", "xcatmn", "XCATMN"], {}, [],
                 ["10.5.106.7\txcatmn.cluster.com xcatmn"], id="empty-file-names-deduplicated"),
    pytest.param(lines("not-an-address foo"), VIP, VIP_NAMES, {}, [],
                 ["10.5.106.7\txcatmn.cluster.com xcatmn"], id="bad-line-left-alone"),
]


@pytest.mark.parametrize(("text", "address", "names", "options", "minus", "plus"), HOSTS_CASES)
def test_hosts_entry(text, address, names, options, minus, plus):
    edit = ensure_hosts_entry(text, address, names, **options)
    assert edit.path == HOSTS
    check(edit, lambda after: ensure_hosts_entry(after, address, names, **options), minus, plus)


@pytest.mark.parametrize(("text", "names", "mentions"), [
    pytest.param(BASE_HOSTS + lines("10.5.106.7 xcatmn"), ["xcatmn1.cluster.com"],
                 ["line 4: 10.5.106.70 xcatmn1.cluster.com xcatmn1", "line 6: 10.5.106.7 xcatmn"],
                 id="name-on-another-line-both-named"),
    pytest.param(lines("10.5.106.70 xcatmn1 XCATMN"), VIP_NAMES,
                 ["line 1: 10.5.106.70 xcatmn1 XCATMN", "wanted: 10.5.106.7 xcatmn.cluster.com xcatmn"],
                 id="alias-conflict-case-insensitive"),
    pytest.param(lines("10.5.106.7 xcatmn", "10.5.106.8 xcatmn"), VIP_NAMES, ["line 2", "line 1"],
                 id="name-on-two-addresses"),
    pytest.param("", ["bad name"], ["without blanks"], id="bad-name"),
    pytest.param("", [], ["without blanks"], id="no-names"),
])
def test_hosts_refused(text, names, mentions):
    with pytest.raises(EditRefused) as raised:
        ensure_hosts_entry(text, VIP, names)
    for mention in mentions:
        assert mention in str(raised.value)


# ----------------------------------------------------------------------------------- mgtifname

LSDEF = parse_lsdef(lines(
    "Object name: 10_0_0_0-255_0_0_0",
    "    gateway=<xcatmaster>",
    "    mask=255.0.0.0",
    "    mgtifname=eth0",
    "    mtu=1500",
    "    net=10.0.0.0",
    "",
    "Object name: 192_0_2_0-255_255_255_0",
    "    mask=255.255.255.0",
    "    mgtifname=eth1",
    "    net=192.0.2.0",
    "",
    "Object name: ipv6net",
    "    mask=/64",
    "    net=2001:db8::",
))
SEED_NET = "10_0_0_0-255_0_0_0"


def chdef(name: str, label: str = "eth0:0") -> list[str]:
    return ["chdef", "-t", "network", "-o", name, f"mgtifname={label}"]


def applied(networks: dict, commands: list[list[str]]) -> dict:
    """The networks after running the chdef commands (what lsdef would show next)."""
    result = {name: dict(attrs) for name, attrs in networks.items()}
    for command in commands:
        key, _, value = command[-1].partition("=")
        result[command[4]][key] = value
    return result


@pytest.mark.parametrize(("networks", "names", "vip", "expected"), [
    pytest.param(LSDEF, [SEED_NET], None, [chdef(SEED_NET)], id="seed-provisioning-network"),
    pytest.param(applied(LSDEF, [chdef(SEED_NET)]), [SEED_NET], None, [], id="already-eth0:0"),
    pytest.param(LSDEF, [], VIP, [chdef(SEED_NET)], id="found-by-vip"),
    pytest.param(LSDEF, [], "2001:db8::7", [chdef("ipv6net")], id="ipv6-mask-prefix-no-mgtifname"),
    pytest.param(LSDEF, [SEED_NET, "192_0_2_0-255_255_255_0", SEED_NET], VIP,
                 [chdef(SEED_NET), chdef("192_0_2_0-255_255_255_0")], id="names-win-over-vip-deduplicated"),
])
def test_mgtifname_commands(networks, names, vip, expected):
    commands = mgtifname_commands(networks, names, "eth0:0", vip=vip)
    assert commands == expected
    assert mgtifname_commands(applied(networks, commands), names, "eth0:0", vip=vip) == []


@pytest.mark.parametrize(("names", "vip", "mention"), [
    pytest.param(["nosuchnet"], None, "nosuchnet", id="undefined-network"),
    pytest.param([], "198.51.100.7", "no xCAT network contains the VIP 198.51.100.7", id="vip-in-no-network"),
    pytest.param([], None, "give the network names or the VIP", id="nothing-to-go-by"),
])
def test_mgtifname_refused(names, vip, mention):
    with pytest.raises(EditRefused, match=mention):
        mgtifname_commands(LSDEF, names, "eth0:0", vip=vip)


# ----------------------------------------------------------------------------------- the rest


def test_backup_path():
    assert backup_path(HBA, "20240102T030405") == "/var/lib/pgsql/data/pg_hba.conf.xcatha-20240102T030405"


def test_edit_without_change_has_no_diff():
    edit = Edit(HOSTS, "a\n", "a\n", "noop")
    assert not edit.changed
    assert edit.diff == ""


SEED_INVENTORY = {
    "cluster": "seed",
    "vip": {"address": VIP, "hostname": "xcatmn.cluster.com"},
    "nodes": [
        {"name": "xcatmn1", "target": "local", "static_ip": MN1},
        {"name": "xcatmn2", "target": "ssh://root@10.5.106.5", "static_ip": MN2},
    ],
}


def test_inventory_requirements_drive_the_seed_edits():
    inventory = parse_inventory(SEED_INVENTORY, "seed.yml")
    assert listen_required(inventory) == SEED_REQUIRED
    assert hba_required(inventory) == SEED_WHY
    assert hosts_names(inventory) == VIP_NAMES
    listen = ensure_listen_addresses(lines(SEED_TYPO), CONF, listen_required(inventory))
    assert diff_lines(listen)[1] == ["listen_addresses = 'localhost,10.5.106.7,10.5.106.70,10.5.105.5,10.5.106.5'"]
    hba = ensure_hba_entries(RHEL_HBA + lines(SEED_HBA_VIP), HBA, hba_required(inventory))
    assert diff_lines(hba)[1] == HBA_MN1 + HBA_MN2
    assert mgtifname_commands(LSDEF, inventory.mgt_networks, inventory.vip.label, vip=VIP) == [chdef(SEED_NET)]


# ---------------------------------------------------------------------------------- site master, policy
SITE_VIP_NAMES = ["xcatmn.cluster.example", "xcatmn"]


@pytest.mark.parametrize(("site", "expected"), [
    ({"master": "192.0.2.7", "nameservers": "192.0.2.7"}, []),
    ({"master": "xcatmn", "nameservers": "<xcatmaster>"}, []),  # the VIP's name; xCAT's keyword for the master
    ({"master": "192.0.2.7"}, []),  # nameservers unset stays unset
    ({"master": "192.0.2.5", "nameservers": "192.0.2.5"},
     [["chdef", "-t", "site", "-o", "clustersite", "master=192.0.2.7", "nameservers=192.0.2.7"]]),
    ({"nameservers": "192.0.2.7,192.0.2.5"}, [["chdef", "-t", "site", "-o", "clustersite", "master=192.0.2.7",
                                              "nameservers=192.0.2.7"]]),
])  # fmt: skip
def test_site_master_commands(site: dict[str, str], expected: list[list[str]]) -> None:
    assert site_master_commands(site, "192.0.2.7", SITE_VIP_NAMES) == expected


POLICY = [{"priority": "1", "name": "root", "rule": "allow"},
          {"priority": "1.2", "name": "xcatmn1", "rule": "trusted"},
          {"priority": "2.3", "name": "", "commands": "lsxcatd", "rule": "allow"}]  # fmt: skip


def test_policy_commands() -> None:
    assert policy_commands(POLICY, "xcatmn1") == []
    assert policy_commands(POLICY, "xcatmn2") == [["chtab", "priority=1.21", "policy.name=xcatmn2",
                                                   "policy.rule=trusted"]]  # fmt: skip
    assert policy_commands(POLICY[:1], "xcatmn2") == [["chtab", "priority=1.2", "policy.name=xcatmn2",
                                                       "policy.rule=trusted"]]  # fmt: skip
    with pytest.raises(EditRefused, match="names xcatmn2 with rule=deny"):
        policy_commands([*POLICY, {"priority": "5", "name": "xcatmn2", "rule": "deny"}], "xcatmn2")
