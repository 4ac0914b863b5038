"""The readiness checks against the real lab: a healthy pair passes, each fault fails exactly its checks."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.observe import claiming, link_mac
from xcatha_verify.checkkit import checks_for, iter_checks, selected
from xcatha_verify.inventory import load_inventory
from xcatha_verify.lab import database, faults
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import DOMAIN

pytestmark = pytest.mark.lab
VERIFY = str(Path(sys.executable).parent / "xcatha-verify")


def verify(
    lab: Lab, tmp_path: Path, phase: str, *target: str, blocked: dict[str, dict[str, str]] | None = None,
    inventory: Path | None = None,
) -> tuple[int, dict[str, set[str]], str]:
    """Run xcatha-verify (on the lab's inventory unless another is given); return its exit status, the
    failing check ids per node, and its console output.

    `blocked`, when given, is filled with each node's blocked checks: {node: {check_id: blocked_by}}.
    """
    report_dir = tmp_path / f"reports-{phase}-{len(list(tmp_path.iterdir()))}"
    proc = subprocess.run(
        [VERIFY, "--inventory", str(inventory or lab.layout.inventory), *target, phase, "--report-dir",
         str(report_dir)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    failing: dict[str, set[str]] = {}
    # Per-node summaries (drift puts them in a run directory beside its history files).
    for path in sorted(report_dir.rglob("*.json")) if report_dir.exists() else []:
        summary = json.loads(path.read_text())
        if "results" not in summary:
            continue  # latest.json, run.json: the drift history, checked in test_drift_lab.py
        failing.setdefault(summary["node"], set()).update(
            r["check_id"] for r in summary["results"] if r["outcome"] in ("failed", "error")
        )
        if blocked is not None:
            blocked.setdefault(summary["node"], {}).update(
                {r["check_id"]: r["blocked_by"] for r in summary["results"] if r["outcome"] == "blocked"}
            )
    return proc.returncode, failing, proc.stdout + proc.stderr


def test_healthy_lab_is_ready_in_its_steady_states(lab: Lab, tmp_path: Path) -> None:
    status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1")
    assert (status, failing) == (0, {"xcatmn1": set()}), out
    status, failing, out = verify(lab, tmp_path, "standby", "--node", "xcatmn2")
    assert (status, failing) == (0, {"xcatmn2": set()}), out
    status, failing, out = verify(lab, tmp_path, "drift")
    assert (status, failing) == (0, {"xcatmn1": set(), "xcatmn2": set()}), out
    # Every check of both steady states ran (one console line each), none was skipped silently.
    ran = {line.split()[1] for line in out.splitlines() if line.startswith(("PASS", "FAIL", "ERROR"))}
    assert {c.id for c in checks_for("active") + checks_for("standby") if not c.pair} <= ran


def test_all_in_a_steady_state_checks_each_node_by_role_and_check_picks_by_id(lab: Lab, tmp_path: Path) -> None:
    # Both nodes cannot be active: `--all active` checks the standby as the standby (it gave 10 false failures).
    for phase in ("active", "standby"):
        status, failing, out = verify(lab, tmp_path, phase, "--all")
        assert (status, failing) == (0, {"xcatmn1": set(), "xcatmn2": set()}), out
        assert "each node against its role" in out and "xcatmn1 active, xcatmn2 standby" in out, out
    status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1", "--check", "vip.present",
                                  "--check", "pg.hba")  # fmt: skip
    assert status == 0, out
    assert sorted(r["check_id"] for r in _results(tmp_path, "xcatmn1")) == ["pg.hba", "vip.present"]
    status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1", "-k", "pg.hba")
    assert status == 0, out
    assert [r["check_id"] for r in _results(tmp_path, "xcatmn1")] == ["pg.hba"]


def test_pre_activate_on_the_standby_fails_while_the_primary_holds_the_vip(lab: Lab, tmp_path: Path) -> None:
    status, failing, out = verify(lab, tmp_path, "pre-activate", "--node", "xcatmn2")
    assert status == 1, out
    assert failing == {"xcatmn2": {"pair.peer_deactivated", "vip.free_on_network"}}, out


def test_both_standby_tells_the_peers_probe_from_a_strangers_and_finds_shared_data_left_mounted(
    lab: Lab, tmp_path: Path
) -> None:
    # Both standby: each node's ARP probe for the VIP meets the other's, which is no holder; a third
    # host claiming the VIP meanwhile (cn1's namespace) makes it taken for both.
    lab.deactivate("xcatmn1")
    try:
        # Only the ARP check (-k): the rest of pre-activate on a both-standby pair is the runbooks' to prove.
        status, failing, out = verify(lab, tmp_path, "pre-activate", "--all", "-k", "free_on_network")
        assert (status, failing) == (0, {"xcatmn1": set(), "xcatmn2": set()}), out
        with claiming(lab.layout.compute_ns, lab.layout.interface, str(lab.layout.vip)):
            status, failing, out = verify(lab, tmp_path, "pre-activate", "--all", "-k", "free_on_network")
        assert (status, failing) == (1, {"xcatmn1": {"vip.free_on_network"}, "xcatmn2": {"vip.free_on_network"}}), out
        stranger = link_mac(lab.layout.compute_ns, lab.layout.interface)
        assert out.count(f"observed: Probe from {lab.layout.vip} [{stranger}]") == 2, out
        # With no active node, which storage is the pair's cannot be judged: one red (nobody holds the
        # VIP), and pair.same_storage blocked by it rather than failed beside it.
        blocked: dict[str, dict[str, str]] = {}
        status, failing, out = verify(lab, tmp_path, "post-activate", "--node", "xcatmn1", "-k",
                                      "same_storage or single_vip_holder", blocked=blocked)  # fmt: skip
        assert (status, failing) == (1, {"xcatmn1": {"pair.single_vip_holder"}}), out
        assert blocked == {"xcatmn1": {"pair.same_storage": "pair.single_vip_holder"}}, out
        # Deactivated but with the shared data still mounted: the peer is not ready to be taken over from,
        # and the printed fix, run on the peer it names, makes it so.
        faults.inject(lab, "storage-also", "xcatmn1")
        try:
            status, failing, out = verify(lab, tmp_path, "pre-activate", "--node", "xcatmn2", "-k", "peer_deactivated")
            assert (status, failing) == (1, {"xcatmn2": {"pair.peer_deactivated"}}), out
            result = next(r for r in _results(tmp_path, "xcatmn2") if r["check_id"] == "pair.peer_deactivated")
            assert "xcatmn1 has the shared data mounted (/etc/xcat," in result["observed"], result
            assert result["fix"].endswith("umount /install; umount /etc/xcat  # on xcatmn1"), result
            lab.run("xcatmn1", ["sh", "-c", result["fix"]])
            status, failing, out = verify(lab, tmp_path, "pre-activate", "--node", "xcatmn2", "-k", "peer_deactivated")
            assert (status, failing) == (0, {"xcatmn2": set()}), out
        finally:
            faults.repair(lab, "storage-also", "xcatmn1")
    finally:
        lab.activate("xcatmn1")


# fault, node, the checks that must fail in `drift` (and no other)
DRIFT_FAULTS = [
    # Pair checks run with the active node's checks, so they are reported under xcatmn1.
    ("vip-also", "xcatmn2", {"xcatmn2": {"vip.absent"}, "xcatmn1": {"pair.single_vip_holder"}}),
    ("service-enabled", "xcatmn2", {"xcatmn2": {"services.disabled_at_boot"}}),
    # The standby has the shared data mounted beside the active node: only the standby's own check sees it.
    ("storage-also", "xcatmn2", {"xcatmn2": {"shared.disconnected"}}),
    # Split brain: the standby activated on the same storage too. The active node finds another's token.
    ("storage-claimed", "xcatmn2", {"xcatmn2": {"shared.disconnected"}, "xcatmn1": {"shared.claimed"}}),
    ("service-enabled", "xcatmn1", {"xcatmn1": {"services.disabled_at_boot"}}),
    ("pg-listen-missing", "xcatmn2", {"xcatmn1": {"pg.listen_addresses"}}),
    ("pg-hba-missing", "xcatmn1", {"xcatmn1": {"pg.hba"}}),
    ("pg-hba-rejects", "xcatmn1", {"xcatmn1": {"pg.hba"}}),
    # The running server goes on; the standby (PostgreSQL 15) could not start on a 14 data directory.
    ("pg-data-version-differs", "xcatmn1", {"xcatmn1": {"pair.pg_major_version"}}),
    ("hosts-differ", "xcatmn2", {"xcatmn1": {"pair.hosts_in_sync"}}),
    # Wrong on xcatmn2, and so different from xcatmn1's: two facts, two reds.
    ("hosts-stale-address", "xcatmn2", {"xcatmn2": {"hosts.inventory_names"}, "xcatmn1": {"pair.hosts_in_sync"}}),
    ("clock-skew", "xcatmn2", {"xcatmn1": {"pair.clock_offset"}}),
    # Only xcatd's own answer fails: the tables' contents are read from the database, which is healthy.
    ("xcatd-hung", "xcatmn1", {"xcatmn1": {"xcat.xcatd"}}),
    # named started by hand on the standby: its unit is inactive, but what runs is what counts.
    ("daemon-by-hand", "xcatmn2", {"xcatmn2": {"services.stopped"}}),
    # Not a service of the pair, yet xcatd could not listen after an activation.
    ("port-held", "xcatmn2", {"xcatmn2": {"services.ports_free"}}),
    # Storage gone under a running pair: one red, shared.connected; everything that reads the shared data
    # is blocked by it (see STORAGE_BLOCKED). The units still run (systemd sees PostgreSQL's processes,
    # which hold the lazily unmounted files open), so the tables read from the database are still
    # right: the site's master and the networks' mgtifname pass.
    ("storage-disconnected", "xcatmn1", {"xcatmn1": {"shared.connected"}}),
    # What PostgreSQL really listens on: a unit's -c beats postgresql.conf; a running server that was
    # started from a file since put right. The VIP still answers (pg.accepting passes), so the checks that
    # read the database judge: one cause, one red.
    ("pg-listen-command-line", "xcatmn1", {"xcatmn1": {"pg.listen_addresses"}}),
    ("pg-listen-not-applied", "xcatmn1", {"xcatmn1": {"pg.listen_addresses"}}),
    # The daemons run, on configurations that are not what makedhcp and makedns write.
    ("dhcpd-foreign-config", "xcatmn1", {"xcatmn1": {"xcat.dhcpd_conf"}}),
    ("named-foreign-config", "xcatmn1", {"xcatmn1": {"xcat.dns_on_vip"}}),
    # The unit runs, and the cluster cannot reach it where it looks; two console servers at once.
    ("httpd-port-changed", "xcatmn1", {"xcatmn1": {"services.listening"}}),
    ("console-both", "xcatmn1", {"xcatmn1": {"services.running"}}),
]  # fmt: skip
# Every check of the active node's drift run that declares it needs the shared data (from the catalogue:
# a new one cannot be forgotten here), and no other.
STORAGE_BLOCKED = {c.id for c in iter_checks() if "shared.connected" in c.needs
                   and selected(c.phases, c.pair, "drift", "active", with_pair=True)}  # fmt: skip
assert {"pg.hba", "xcat.cfgloc", "pair.same_storage"} <= STORAGE_BLOCKED
# And those that read xCAT's tables (FROM_THE_DATABASE): they wait while pg.accepting fails.
DATABASE_BLOCKED = {c.id for c in iter_checks() if "pg.accepting" in c.needs
                    and selected(c.phases, c.pair, "drift", "active", with_pair=True)}  # fmt: skip
assert {"xcat.site_master", "xcat.mgtifname"} <= DATABASE_BLOCKED


@pytest.mark.parametrize(("fault", "node", "expected"), DRIFT_FAULTS, ids=[f"{f}@{n}" for f, n, _ in DRIFT_FAULTS])
def test_each_fault_fails_exactly_its_checks(
    lab: Lab, tmp_path: Path, fault: str, node: str, expected: dict[str, set[str]]
) -> None:
    faults.inject(lab, fault, node)
    blocked: dict[str, dict[str, str]] = {}
    try:
        status, failing, out = verify(lab, tmp_path, "drift", blocked=blocked)
    finally:
        faults.repair(lab, fault, node)
    assert status == 1, out
    assert {n: ids for n, ids in failing.items() if ids} == expected, out
    # One cause, one red: what could not judge because of it is blocked by it, not failed.
    by_cause = ({check_id: "shared.connected" for check_id in STORAGE_BLOCKED} if fault == "storage-disconnected"
                else {check_id: "pg.accepting" for check_id in DATABASE_BLOCKED}
                if "pg.accepting" in expected.get(node, set())
                else {})  # fmt: skip
    assert {n: b for n, b in blocked.items() if b} == ({node: by_cause} if by_cause else {}), out


def test_a_server_on_the_peer_working_in_the_shared_data_stops_the_activation_before_postgresql(
    lab: Lab, tmp_path: Path
) -> None:
    # The standby has the shared data mounted while the active node's PostgreSQL runs on it. Started
    # there, PostgreSQL would take postmaster.pid (a PID of another node) for stale and start: the
    # activation's shared-data gate must stop it first, naming the peer's postmaster.
    pid = (database.data_dir(lab.layout) / "postmaster.pid").read_text().split()[0]
    faults.inject(lab, "storage-also", "xcatmn2")
    try:
        status, failing, out = verify(lab, tmp_path, "post-activate", "--node", "xcatmn2", "-k", "data_dir")
    finally:
        faults.repair(lab, "storage-also", "xcatmn2")
    assert status == 1, out
    # pg.data_dir_state fails too only if that PID happens to live on xcatmn2 (then PostgreSQL would refuse).
    assert "pair.data_dir_owner" in failing["xcatmn2"] <= {"pair.data_dir_owner", "pg.data_dir_state"}, out
    results = {r["check_id"]: r for r in _results(tmp_path, "xcatmn2")}
    owner = results["pair.data_dir_owner"]
    assert f"on xcatmn1, postmaster pid {pid} works in /var/lib/pgsql/data" in owner["observed"], owner
    assert owner["fix"].startswith("systemctl stop postgresql  # on xcatmn1"), owner
    state = results["pg.data_dir_state"]
    assert state["outcome"] == "passed" or f"names pid {pid}, which lives on xcatmn2" in state["observed"], state


def test_a_client_the_inventory_names_must_be_admitted_and_the_printed_fix_admits_it(
    lab: Lab, tmp_path: Path
) -> None:
    # Service nodes reach the database through the VIP: database.clients names them, and pg.hba judges
    # them as it judges the pair's own addresses, in the pg_hba.conf the server loads (its hba_file).
    client = "192.0.2.80"
    inventory = tmp_path / "inventory.yml"
    text = lab.layout.inventory.read_text()
    inventory.write_text(text.replace("database:\n", f"database:\n  clients: [{client}]\n", 1))
    hba = database.data_dir(lab.layout) / "pg_hba.conf"
    original = hba.read_text()
    try:
        status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1", "-k", "hba", inventory=inventory)
        assert (status, failing) == (1, {"xcatmn1": {"pg.hba"}}), out
        result = next(r for r in _results(tmp_path, "xcatmn1") if r["check_id"] == "pg.hba")
        assert f"{client} (a client in database.clients): no host entry" in result["observed"], result
        assert "(the server's hba_file)" in result["observed"], result
        lab.run("xcatmn1", ["sh", "-c", result["fix"]])  # as printed
        status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1", "-k", "hba", inventory=inventory)
        assert (status, failing) == (0, {"xcatmn1": set()}), out
        assert f" {client}/32 " in hba.read_text()
    finally:
        hba.write_text(original)
        lab.systemctl("xcatmn1", "reload", "postgresql")


def test_a_different_xcat_version_names_the_node_to_update(lab: Lab, tmp_path: Path) -> None:
    faults.inject(lab, "xcat-version-differs", "xcatmn2")
    try:
        status, failing, out = verify(lab, tmp_path, "drift")
    finally:
        faults.repair(lab, "xcat-version-differs", "xcatmn2")
    assert (status, failing.get("xcatmn1")) == (1, {"pair.same_xcat_version"}), out
    # The failing check's block on the console: its line, then observed, expected and fix under it.
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("FAIL  pair.same_xcat_version "))
    block = "\n".join(itertools.takewhile(lambda line: line.startswith(" "), lines[first + 1:]))
    assert f"xcatmn2: xCAT {faults.OTHER_XCAT_VERSION}" in block and "xcatmn1: xCAT 2.19.0" in block, block
    assert "fix:      on xcatmn2: update xCAT to 2.19.0" in block, block


@pytest.mark.parametrize("fault", ["sshd-down", "link-down"])
def test_unreachable_node_is_exit_3_and_named(lab: Lab, tmp_path: Path, fault: str) -> None:
    faults.inject(lab, fault, "xcatmn2")
    try:
        drift_blocked: dict[str, dict[str, str]] = {}
        status, _, out = verify(lab, tmp_path, "drift", blocked=drift_blocked)
        assert status == 3, out
        assert "UNREACHABLE" in out and "xcatmn2" in out
        # Its JSON summary says why, with no result: what a monitor reading the JSON sees.
        summary = json.loads(next(tmp_path.rglob("*-xcatmn2-drift-standby.json")).read_text())
        assert (summary["results"], summary["ready"]) == ([], False), summary
        assert "xcatmn2" in summary["unreachable"], summary
        # The healthy node's pair checks cannot judge: blocked by the unreachable peer, never passed, and
        # the drift run still exits 3 (above). From xcatmn1's side before an activation, the same.
        pair_checks = {c.id: "xcatmn2 unreachable" for c in checks_for("drift") if c.pair}
        assert drift_blocked == {"xcatmn1": pair_checks, "xcatmn2": {}}, out
        blocked: dict[str, dict[str, str]] = {}
        status, _, out = verify(lab, tmp_path, "pre-activate", "--node", "xcatmn1", blocked=blocked)
        assert blocked["xcatmn1"]["pair.peer_deactivated"] == "xcatmn2 unreachable", out
        assert status == 3, out  # nothing failed on xcatmn1 but its peer is unreachable: not ready, not green
    finally:
        faults.repair(lab, fault, "xcatmn2")


def test_list_touches_no_node(tmp_path: Path) -> None:
    proc = subprocess.run([VERIFY, "--list", "pre-activate"], capture_output=True, text=True, check=True)
    ids = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "vip.free_on_network" in ids and "pair.peer_deactivated" in ids
    assert "vip.present" not in ids
    # An inventory named with --list is validated (issue 15): a missing one is one line, exit 2.
    named = subprocess.run([VERIFY, "--list", "pre-activate", "--inventory", "/nonexistent"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    assert named.returncode == 2 and len(named.stderr.strip().splitlines()) == 1, named.stderr


def test_reports_hold_no_secret(lab: Lab, tmp_path: Path) -> None:
    # A cfgloc pointing at the wrong host makes xcat.cfgloc fail and show what it read.
    cfgloc = lab.layout.shared_dir("/etc/xcat") / "cfgloc"
    original = cfgloc.read_text()
    cfgloc.write_text(original.replace(f"host={lab.layout.vip}", "host=192.0.2.99"))
    try:
        _status, failing, out = verify(lab, tmp_path, "active", "--node", "xcatmn1")
    finally:
        cfgloc.write_text(original)
    assert "xcat.cfgloc" in failing["xcatmn1"], out
    assert "host=192.0.2.99" in out and lab.db_password not in out
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".html", ".xml", ".json"}
    for path in written:
        assert lab.db_password not in path.read_text(errors="replace"), path


def test_verify_runs_locally_on_a_node(lab: Lab) -> None:
    """On xcatmn1 itself, with the site's /etc/xcatha/inventory.yml: the local backend, peer over ssh."""
    proc = lab.run("xcatmn1", [VERIFY, "active", "--report-dir", "/tmp/xcatha-reports"], check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "xcatmn1 (local://): active" in proc.stdout
    assert "PASS  pair.single_vip_holder" in proc.stdout
    assert lab.path("xcatmn1", "/tmp/xcatha-reports").is_dir()


# ---------------------------------------------------------------------- valid variants
def _hba_with(lab: Lab, lines: list[str]) -> None:
    """pg_hba.conf with its per-address host lines (VIP, static IPs) replaced by `lines`, reloaded."""
    hba = database.data_dir(lab.layout) / "pg_hba.conf"
    addresses = [str(lab.layout.vip), *(str(lab.layout.static_ip(n)) for n in ("xcatmn1", "xcatmn2"))]
    kept = [line for line in hba.read_text().splitlines() if not any(f" {a}/32" in line for a in addresses)]
    hba.write_text("\n".join([*kept, *lines]) + "\n")
    lab.systemctl("xcatmn1", "reload", "postgresql")


def _host_names(lab: Lab) -> list[str]:
    """The long name /etc/hosts gives the VIP and each node (PostgreSQL matches them by reverse lookup)."""
    names = {line.split()[0]: line.split()[1] for line in lab.path("xcatmn1", "/etc/hosts").read_text().splitlines()
             if line.strip() and not line.startswith("#")}  # fmt: skip
    return [names[str(lab.layout.vip)], *(names[str(lab.layout.static_ip(n))] for n in ("xcatmn1", "xcatmn2"))]


def _listen_everywhere(lab: Lab) -> None:
    conf = database.data_dir(lab.layout) / "postgresql.conf"
    conf.write_text(re.sub(r"^listen_addresses\s*=.*$", "listen_addresses = '*'", conf.read_text(), flags=re.M))
    lab.systemctl("xcatmn1", "restart", "postgresql")


def _declared_sources(lab: Lab, tmp_path: Path) -> Path:
    """The lab's inventory with each shared path's source and type declared as findmnt prints them."""
    mounts = json.loads(lab.run("xcatmn1", ["findmnt", "-J", "-l", "-o", "TARGET,SOURCE,FSTYPE"]).stdout)
    by_target = {m["target"]: m for m in mounts["filesystems"]}
    entries = "".join(f'  - {{path: "{p}", source: "{by_target[p]["source"]}", fstype: {by_target[p]["fstype"]}}}\n'
                      for p in ("/etc/xcat", "/install", "/root/.xcat", "/var/lib/pgsql", "/tftpboot"))  # fmt: skip
    inventory = tmp_path / "declared-sources.yml"
    inventory.write_text(lab.layout.inventory.read_text() + "shared_data:\n" + entries)
    return inventory


def _mask_goconserver(lab: Lab, mask: str = "mask") -> None:
    for node in ("xcatmn1", "xcatmn2"):
        lab.systemctl(node, mask, "goconserver")


def _site_domain(lab: Lab, domain: str = "") -> None:
    lab.run("xcatmn1", ["chdef", "-t", "site", f"domain={domain}"])


def _nothing(lab: Lab) -> None:
    """Undone by the test itself: it puts PostgreSQL's files back."""


def _pg(lab: Lab, name: str) -> str:
    return (database.data_dir(lab.layout) / name).read_text()


def _site_domain_now(lab: Lab) -> str:
    out = lab.run("xcatmn1", ["lsdef", "-t", "site", "-i", "domain", "-c"]).stdout
    return out.partition("domain=")[2].strip()


# name: (apply, undo, evidence that the variant is in effect); apply may return another inventory to verify
# with. Each is a setup a site may run.
Variant = tuple[Callable[[Lab, Path], Path | None], Callable[[Lab], None], Callable[[Lab, Path | None], bool]]
VALID_VARIANTS: dict[str, Variant] = {
    "listen-everywhere": (lambda lab, _: _listen_everywhere(lab), _nothing,
                          lambda lab, _: "0.0.0.0:5432" in lab.run("xcatmn1", ["ss", "-Hltn", "sport = :5432"]).stdout),
    "hba-one-subnet-line": (lambda lab, _: _hba_with(lab, [f"host all all {lab.layout.subnet} scram-sha-256"]),
                            _nothing, lambda lab, _: f" {lab.layout.vip}/32" not in _pg(lab, "pg_hba.conf")),
    "hba-samenet": (lambda lab, _: _hba_with(lab, ["host all all samenet scram-sha-256"]), _nothing,
                    lambda lab, _: f" {lab.layout.vip}/32" not in _pg(lab, "pg_hba.conf")),
    "hba-host-names": (lambda lab, _: _hba_with(lab, [f"host all all {name} scram-sha-256"
                                                      for name in _host_names(lab)]), _nothing,
                       lambda lab, _: f" {lab.layout.vip}/32" not in _pg(lab, "pg_hba.conf")),
    # A console server the site does not use, masked on both nodes.
    "masked-unit": (lambda lab, _: _mask_goconserver(lab), lambda lab: _mask_goconserver(lab, "unmask"),
                    lambda lab, _: lab.systemctl("xcatmn2", "is-enabled", "goconserver", check=False).stdout.strip()
                    == "masked"),
    # No domain in the site table: named and dhcpd are not the seed's then; nothing judges them as required.
    "site-without-domain": (lambda lab, _: _site_domain(lab), lambda lab: _site_domain(lab, DOMAIN),
                            lambda lab, _: _site_domain_now(lab) == ""),
    # Each source as findmnt prints a bind mount (dev[/dir]), checked against what is mounted.
    "declared-sources": (lambda lab, tmp: _declared_sources(lab, tmp), _nothing,
                         lambda lab, inventory: inventory is not None and all(
                             e.source and e.source.endswith("]") for e in load_inventory(inventory).shared_data)),
}  # fmt: skip


@pytest.mark.parametrize("variant", list(VALID_VARIANTS))
def test_each_valid_variant_of_a_healthy_pair_stays_green(lab: Lab, tmp_path: Path, variant: str) -> None:
    apply, undo, in_effect = VALID_VARIANTS[variant]
    conf, hba = (database.data_dir(lab.layout) / name for name in ("postgresql.conf", "pg_hba.conf"))
    saved = conf.read_text(), hba.read_text()
    try:
        inventory = apply(lab, tmp_path)
        assert in_effect(lab, inventory), variant
        status, failing, out = verify(lab, tmp_path, "drift", inventory=inventory)
    finally:
        undo(lab)
        if (conf.read_text(), hba.read_text()) != saved:
            conf.write_text(saved[0])
            hba.write_text(saved[1])
            lab.systemctl("xcatmn1", "restart", "postgresql")
    assert (status, failing) == (0, {"xcatmn1": set(), "xcatmn2": set()}), out


# A fault a command on a node repairs: (fault, the node it breaks, the node whose check finds it, phase,
# check). The database's files are on the shared data: the active node's check finds them, and runs the fix.
FIXABLE = [
    ("daemon-by-hand", "xcatmn2", "xcatmn2", "standby", "services.stopped"),
    ("port-held", "xcatmn2", "xcatmn2", "standby", "services.ports_free"),
    ("storage-also", "xcatmn2", "xcatmn2", "standby", "shared.disconnected"),
    ("hosts-stale-address", "xcatmn2", "xcatmn2", "standby", "hosts.inventory_names"),
    ("pg-hba-missing", "xcatmn2", "xcatmn1", "active", "pg.hba"),
    ("pg-hba-rejects", "xcatmn2", "xcatmn1", "active", "pg.hba"),
    # Its fix restarts PostgreSQL under the running xcatd, which stays green (xcat.xcatd is in `active`).
    ("pg-listen-missing", "xcatmn2", "xcatmn1", "active", "pg.listen_addresses"),
    ("pg-listen-command-line", "xcatmn1", "xcatmn1", "active", "pg.listen_addresses"),
    ("pg-listen-not-applied", "xcatmn1", "xcatmn1", "active", "pg.listen_addresses"),
    # xCAT's own commands, run as printed on the lab's real xCAT.
    ("dhcpd-foreign-config", "xcatmn1", "xcatmn1", "active", "xcat.dhcpd_conf"),
    ("named-foreign-config", "xcatmn1", "xcatmn1", "active", "xcat.dns_on_vip"),
    ("console-both", "xcatmn1", "xcatmn1", "active", "services.running"),
]


def _what_the_check_must_say(lab: Lab, fault: str, node: str) -> tuple[str, str]:
    """(a part of its observed text, a part of its fix) for `fault` injected on `node`."""
    ip = lab.layout.static_ip(node)
    if fault == "daemon-by-hand":  # the fix names the process it saw
        pid = lab.run(node, ["pgrep", "-o", "-x", faults.DAEMON_BY_HAND]).stdout.strip()
        return f"named (pid {pid}) runs although named is inactive", f"kill {pid}"
    if fault == "port-held":  # the fix names the program it saw
        pid = lab.run(node, ["sh", "-c", f'ss -Hltnp "sport = :{faults.HELD_PORT}" | grep -o "pid=[0-9]*"']).stdout
        return f"python3 (pid {pid.strip()[4:]}) holds {faults.HELD_PORT}/tcp on 0.0.0.0", f"kill {pid.strip()[4:]}"
    if fault == "storage-also":
        return "/etc/xcat mounted from", "umount /etc/xcat; umount /install"
    if fault == "hosts-stale-address":
        peer = next(n for n in ("xcatmn1", "xcatmn2") if n != node)
        stale = re.escape(faults.STALE_ADDRESS)
        return f"{peer} maps to {faults.STALE_ADDRESS}, not", f"s/^[[:space:]]*{stale}/{lab.layout.static_ip(peer)}/"
    if fault == "pg-listen-command-line":  # the unit's drop-in that passes -c, edited where it says it
        return f"-c in {faults.LISTEN_DROP_IN}'s ExecStart", f"{faults.LISTEN_DROP_IN}; systemctl daemon-reload"
    if fault == "console-both":
        return "goconserver runs beside conserver", "systemctl stop goconserver"
    if fault == "dhcpd-foreign-config":
        return "not xCAT's", "makedhcp -n && systemctl restart dhcpd && makedhcp -a"
    if fault == "named-foreign-config":
        return f"no answer, not {lab.layout.vip}", "makedns -n"
    if fault == "pg-listen-not-applied":  # the files are right: only a restart is needed
        return "the running server listens on", "systemctl restart postgresql"
    if fault == "pg-listen-missing":  # the line that wins, edited in place
        return f"missing {ip} ({node}'s static IP)", "s/.*/listen_addresses = "
    if fault == "pg-hba-missing":
        return f"{ip} ({node}'s static IP): no host entry", f"echo 'host xcatdb xcatadm {ip}/32 "
    # The reject stands first: the admitting entry goes before it, not after (never reached there).
    return f"{ip} ({node}'s static IP): rejected by", f"sed -i '1i host xcatdb xcatadm {ip}/32 "


@pytest.mark.parametrize(("fault", "node", "checked", "phase", "check_id"), FIXABLE, ids=[f[0] for f in FIXABLE])
def test_the_printed_fix_applied_verbatim_on_the_node_repairs_the_fault(
    lab: Lab, tmp_path: Path, fault: str, node: str, checked: str, phase: str, check_id: str
) -> None:
    faults.inject(lab, fault, node)
    try:
        status, failing, out = verify(lab, tmp_path, phase, "--node", checked)
        assert (status, failing) == (1, {checked: {check_id}}), out
        result = next(r for r in _results(tmp_path, checked) if r["check_id"] == check_id)
        observed, fix = _what_the_check_must_say(lab, fault, node)
        assert observed in result["observed"] and fix in result["fix"], result
        lab.run(checked, ["sh", "-c", result["fix"]])  # as printed, on the node whose check printed it
        deadline = time.monotonic() + 10
        while (status := verify(lab, tmp_path, phase, "--node", checked)[0]) and time.monotonic() < deadline:
            time.sleep(0.5)  # a killed daemon takes a moment to end
        assert status == 0
    finally:
        faults.repair(lab, fault, node)


def _results(tmp_path: Path, node: str) -> list[dict[str, str]]:
    """The results of the newest JSON summary of `node` under `tmp_path`."""
    newest = max(tmp_path.rglob(f"*-{node}-*.json"), key=lambda p: p.stat().st_mtime_ns)
    return list(json.loads(newest.read_text())["results"])
