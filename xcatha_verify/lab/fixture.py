"""pytest fixtures for the lab: ``lab`` (one healthy pair for the session) and ``lab_factory``.

Use with ``pytest_plugins = ["xcatha_verify.lab.fixture"]``. Lab tests need root; without it
they are skipped with the reason. Every lab a fixture brings up is brought down at the end,
failed tests included; a lab left by a killed run is cleaned by the next ``up`` of that name.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterator

import pytest

from xcatha_verify.errors import XcathaError
from xcatha_verify.lab.lab import Lab, labs_present
from xcatha_verify.lab.layout import LabLayout

# One name per test process, so two test runs on one machine never share a lab.
SESSION_LAB = f"t{os.getpid() % 1_000_000}"


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network, mount and PID namespaces)")


def own_lab(layout: LabLayout) -> Iterator[Lab]:
    """A lab for a fixture to yield: skipped without root, stale labs cleaned first, always brought down."""
    _require_root()
    clean_stale_labs()
    the_lab = Lab(layout)
    the_lab.up()
    try:
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The session's lab: xcatmn1 active, xcatmn2 standby. Tests that change it must restore it."""
    yield from own_lab(LabLayout(name=SESSION_LAB))


def clean_stale_labs() -> None:
    """Take down labs whose nodes are all off (left by a killed test run); leave live ones alone."""
    for name in labs_present():
        try:
            stale = Lab.load(name)
        except XcathaError:
            continue
        # A lab still being built (by another test run) has no node on yet: leave it its ten minutes.
        started = stale.state.get("started")
        recent = isinstance(started, int | float) and time.time() - started < 600
        building = stale.state.get("status") == "building" and recent
        if not building and not stale.any_node_on():
            stale.down()


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    """Build extra labs (other names and layouts); all are brought down after the test."""
    _require_root()
    built: list[Lab] = []

    def make(name: str, subnet: str = "192.0.2.0/24", interface: str = "eth0", label: str | None = None) -> Lab:
        layout = LabLayout(name, ipaddress.IPv4Network(subnet), interface, label or f"{interface}:0")
        new = Lab(layout)
        built.append(new)
        new.up()
        return new

    try:
        yield make
    finally:
        for each in built:
            each.down()
