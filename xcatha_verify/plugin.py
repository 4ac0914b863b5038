"""pytest plugin that turns the checks/ modules into a phase's readiness checks for one node.

Loaded by ``xcatha-verify`` with ``-p xcatha_verify.plugin``. testinfra's own plugin supplies the
``host`` fixture (from ``--hosts`` and ``--ssh-config``); this one supplies the inventory and
the node being checked, and keeps only the checks of the requested phase.
"""

from __future__ import annotations

import pytest

from xcatha_verify.checkkit import MARK, check_phase
from xcatha_verify.inventory import Inventory, Node, load_inventory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xcatha", "xcatha-verify")
    group.addoption("--xcatha-inventory", help="inventory file")
    group.addoption("--xcatha-node", help="name of the node the checks run against")
    group.addoption("--xcatha-phase", help="phase whose checks run")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(id, phases): an xcatha-verify check")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    phase = config.getoption("--xcatha-phase")
    if not phase:
        return
    check_phase(phase)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker(MARK)
        (keep if mark is not None and phase in mark.kwargs["phases"] else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Inventory:
    return load_inventory(pytestconfig.getoption("--xcatha-inventory"))


@pytest.fixture(scope="session")
def node(pytestconfig: pytest.Config, inventory: Inventory) -> Node:
    name = pytestconfig.getoption("--xcatha-node")
    if not name:
        raise pytest.UsageError("--xcatha-node is required")
    return inventory.node(name)
