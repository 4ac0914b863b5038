"""pytest plugin that turns the checks/ modules into a phase's readiness checks for one node.

Loaded by ``xcatha-verify`` with ``-p xcatha_verify.pytest_checks``. testinfra's own plugin supplies the
``host`` fixture (from ``--hosts`` and ``--ssh-config``); this one supplies the inventory and
the node being checked, and keeps only the checks of the requested phase.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future

import pytest
from testinfra.host import Host

from xcatha_verify.checkkit import MARK, blocked, check_phase, selected
from xcatha_verify.facts.node import XCAT_VERSION_FILE, NodeFacts
from xcatha_verify.facts.postgres import POSTMASTER_PID
from xcatha_verify.inventory import Inventory, Node, load_inventory
from xcatha_verify.nodepaths import CONSOLE_LOCK, STORAGE_RECORD, storage_id_path
from xcatha_verify.targets import ensure_reachable

_FACTS: dict[int, NodeFacts] = {}
_PEER: list[Future[NodeFacts]] = []  # the peer's facts, being read since the run's first check


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xcatha", "xcatha-verify")
    group.addoption("--xcatha-inventory", help="inventory file")
    group.addoption("--xcatha-node", help="name of the node the checks run against")
    group.addoption("--xcatha-phase", help="phase whose checks run")
    group.addoption(
        "--xcatha-role", choices=("active", "standby"), help="drift: the node's role (selects its steady-state checks)"
    )
    group.addoption("--xcatha-pair", action="store_true", help="drift: this run also runs the pair checks")
    group.addoption("--xcatha-only", default="", help="comma-separated check ids: run these (any phase)")
    group.addoption("--xcatha-exclude", default="", help="comma-separated check ids to leave out")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Facts are per run: a gate run in the same process must read the nodes afresh.
    _FACTS.clear()
    _PEER.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(id, phases): an xcatha-verify check")


def pytest_itemcollected(item: pytest.Item) -> None:
    # `-k pg.hba` matches the id printed everywhere, not only the function's name (check_hba).
    mark = item.get_closest_marker(MARK)
    if mark is not None:
        item.extra_keyword_matches.add(str(mark.kwargs["id"]))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    phase = config.getoption("--xcatha-phase")
    if not phase:
        return
    check_phase(phase)
    role, with_pair = config.getoption("--xcatha-role"), config.getoption("--xcatha-pair")
    only = {i for i in config.getoption("--xcatha-only").split(",") if i}
    exclude = {i for i in config.getoption("--xcatha-exclude").split(",") if i}
    if phase == "drift" and not role:
        raise pytest.UsageError("the drift phase needs --xcatha-role")
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker(MARK)
        if mark is None or mark.kwargs["id"] in exclude:
            ok = False
        elif only:
            ok = mark.kwargs["id"] in only
        else:
            ok = selected(mark.kwargs["phases"], mark.kwargs.get("pair", False), phase, role, with_pair)
        (keep if ok else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = _needed_first(keep)


def _check_id(item: pytest.Item) -> str:
    mark = item.get_closest_marker(MARK)
    return str(mark.kwargs["id"]) if mark else item.nodeid


def _needs(item: pytest.Item) -> tuple[str, ...]:
    mark = item.get_closest_marker(MARK)
    return tuple(mark.kwargs.get("needs", ())) if mark else ()


def _needed_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """`items` in their order, except that a check runs after the selected checks it needs."""
    by_id = {_check_id(i): i for i in items}
    ordered: list[pytest.Item] = []
    placed: set[str] = set()

    def place(item: pytest.Item, path: tuple[str, ...]) -> None:
        check_id = _check_id(item)
        if check_id in placed:
            return
        if check_id in path:
            raise pytest.UsageError(f"checks need each other in a circle: {' -> '.join((*path, check_id))}")
        for needed in _needs(item):
            if needed in by_id:
                place(by_id[needed], (*path, check_id))
        placed.add(check_id)
        ordered.append(item)

    for item in items:
        place(item, ())
    return ordered


@pytest.hookimpl(tryfirst=True)  # before its fixtures: a blocked check reads nothing
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Block the check when a check it needs ran in this run and did not pass (the cause is named)."""
    needs = _needs(item)
    recorder = item.config.pluginmanager.get_plugin("xcatha-report")
    if not needs or recorder is None:
        return
    results = {r.check_id: r for r in recorder.summary.results}
    for needed in needs:
        result = results.get(needed)
        if result is None or result.outcome in ("passed", "skipped"):
            continue
        if result.outcome == "blocked":  # its cause is this one's too
            blocked(by=result.blocked_by, why=result.message)
        # What broke is on the cause's own line (observed, fix): here only that this one waits for it.
        blocked(by=needed, why=f"cannot judge until {needed} passes")


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    return load_inventory(pytestconfig.getoption("--xcatha-inventory"))


@pytest.fixture(scope="session")
def node(pytestconfig: pytest.Config, inventory: Inventory) -> Node:
    name = pytestconfig.getoption("--xcatha-node")
    if not name:
        raise pytest.UsageError("--xcatha-node is required")
    return inventory.node(name)


@pytest.fixture(scope="session")
def phase(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--xcatha-phase"))


@pytest.fixture(scope="session")
def peer(inventory: Inventory, node: Node) -> Node:
    return inventory.peer_of(node.name)


@pytest.fixture
def facts(
    host: Host, node: Node, inventory: Inventory, pytestconfig: pytest.Config, request: pytest.FixtureRequest
) -> NodeFacts:
    """The checked node's facts, shared by every check of the run.

    Made by the run's first check, which also starts what the run will read: the peer's facts
    when a pair check is selected, and each selected check's declared `reads`, all beside this
    node's own batched read. XCATHA_UNSHARED_FACTS=1 gives every check its own, read on demand
    (for benchmarks/verify_speed.py's naive run).
    """
    key = id(host)
    if os.environ.get("XCATHA_UNSHARED_FACTS") == "1":
        return NodeFacts(host, node, inventory)
    if key not in _FACTS:
        fresh = NodeFacts(host, node, inventory)
        _FACTS[key] = fresh
        marks = [m for m in (item.get_closest_marker(MARK) for item in request.session.items) if m is not None]
        if any(m.kwargs.get("pair") for m in marks):
            _start_peer(inventory, inventory.peer_of(node.name), pytestconfig)
        for mark in marks:
            if mark.kwargs.get("reads"):
                mark.kwargs["reads"](fresh)
        # A few named checks (a runbook gate) read less than one batched read costs.
        if not pytestconfig.getoption("--xcatha-only"):
            _prefetched(fresh, inventory)
        else:
            fresh.start_file(XCAT_VERSION_FILE)  # for the report, beside the checks
    return _FACTS[key]


def _prefetched(facts: NodeFacts, inventory: Inventory) -> NodeFacts:
    """The files the checks read, fetched with the other common facts in one round trip."""
    db = inventory.database
    first_shared = inventory.shared_data[0].path
    files = ["/etc/hosts", facts.node.network_config, db.cfgloc, db.conf_file, db.hba_file or "",
             CONSOLE_LOCK, STORAGE_RECORD, storage_id_path(first_shared),
             XCAT_VERSION_FILE, f"{db.data_dir}/{POSTMASTER_PID}"]  # fmt: skip
    facts.prefetch([f for f in files if f])
    return facts


def _peer_facts_now(inventory: Inventory, peer: Node, prefetch: bool) -> NodeFacts:
    host = ensure_reachable(inventory, peer)
    fresh = NodeFacts(host, peer, inventory)
    return _prefetched(fresh, inventory) if prefetch else fresh


def _start_peer(inventory: Inventory, peer: Node, pytestconfig: pytest.Config) -> None:
    if _PEER:
        return
    prefetch = not pytestconfig.getoption("--xcatha-only")
    future: Future[NodeFacts] = Future()

    def work() -> None:
        try:
            future.set_result(_peer_facts_now(inventory, peer, prefetch))
        except BaseException as exc:  # NodeUnreachable among them: the fixture raises it where it is used
            future.set_exception(exc)

    # Its own thread, not the facts pool: the pool may be busy with this node's commands.
    threading.Thread(target=work, name=f"xcatha-peer-{peer.name}", daemon=True).start()
    _PEER.append(future)


@pytest.fixture(scope="session")
def peer_facts(peer: Node, inventory: Inventory, pytestconfig: pytest.Config) -> NodeFacts:
    """The peer's facts over its own (reused) connection; NodeUnreachable when it cannot be reached.

    Session-scoped: pytest keeps the outcome, so an unreachable peer costs one connection timeout.
    """
    _start_peer(inventory, peer, pytestconfig)
    return _PEER[0].result()


def xcat_versions() -> dict[str, str]:
    """xCAT's version on each node this run read facts from (the checked node, and the peer when read)."""
    known = list(_FACTS.values())
    if _PEER and _PEER[0].done() and _PEER[0].exception() is None:
        known.append(_PEER[0].result())
    return {facts.node.name: facts.xcat_version for facts in known}
