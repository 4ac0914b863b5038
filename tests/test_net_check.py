"""net.static_ip_persistent on NetworkManager keyfiles (RHEL 9's default), as NetworkManager reads them."""

from __future__ import annotations

import dataclasses

import pytest

from checks.net import check_static_ip_persistent
from tests.test_hosts_check import INVENTORY
from xcatha_verify.checkkit import CheckFailed
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.nmkeyfile import parse_keyfile
from xcatha_verify.inventory import Inventory, load_inventory

KEYFILE = "/etc/NetworkManager/system-connections/eth0.nmconnection"
# As `nmcli connection add type ethernet ifname eth0 ipv4.method manual ipv4.addresses 192.0.2.70/24` writes it.
HEALTHY = """[connection]
id=eth0
uuid=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03
type=ethernet
interface-name=eth0

[ethernet]

[ipv4]
address1=192.0.2.70/24,192.0.2.1
method=manual

[ipv6]
addr-gen-mode=eui64
method=auto
"""


class OneFile:
    def __init__(self, text: str | None) -> None:
        self.text = text

    def file(self, path: str) -> str | None:
        assert path == KEYFILE
        return self.text


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    inventory = load_inventory(INVENTORY)
    nodes = tuple(dataclasses.replace(n, network_config=KEYFILE) for n in inventory.nodes)
    return dataclasses.replace(inventory, nodes=nodes)


def _judge(inventory: Inventory, text: str | None) -> CheckFailed | None:
    try:
        check_static_ip_persistent(OneFile(text), inventory, inventory.nodes[0])  # type: ignore[arg-type]
    except CheckFailed as failed:
        return failed
    return None


@pytest.mark.parametrize("text", [
    HEALTHY,
    HEALTHY.replace("address1=192.0.2.70/24,192.0.2.1", "address1=192.0.2.9/24\naddress2=192.0.2.70/24"),
    HEALTHY.replace("address1=192.0.2.70/24,192.0.2.1", "addresses=192.0.2.70/24;"),  # the older form
    HEALTHY.replace("interface-name=eth0\n", ""),  # not bound to an interface name: any device
])  # fmt: skip
def test_a_keyfile_that_brings_the_static_ip_up_at_boot_passes(inventory: Inventory, text: str) -> None:
    assert _judge(inventory, text) is None


@pytest.mark.parametrize(("text", "observed"), [
    (HEALTHY.replace("method=manual", "method=auto"), "ipv4.method=auto"),
    (HEALTHY.replace("type=ethernet", "type=ethernet\nautoconnect=false"), "autoconnect=no"),
    (HEALTHY.replace("interface-name=eth0", "interface-name=eth1"), "on eth1"),
    (HEALTHY.replace("192.0.2.70/24", "192.0.2.71/24"), "addresses 192.0.2.71/24"),
    (HEALTHY.replace("192.0.2.70/24", "192.0.2.70/25"), "addresses 192.0.2.70/25"),
])  # fmt: skip
def test_a_keyfile_that_does_not_fails_with_an_nmcli_fix(inventory: Inventory, text: str, observed: str) -> None:
    failed = _judge(inventory, text)
    assert failed is not None and observed in failed.observed, failed
    assert failed.fix == ("nmcli connection modify eth0 connection.interface-name eth0 connection.autoconnect yes "
                          "ipv4.method manual +ipv4.addresses 192.0.2.70/24")


def test_a_file_networkmanager_cannot_read_says_so(inventory: Inventory) -> None:
    failed = _judge(inventory, "address1=192.0.2.70/24\n")
    assert failed is not None and "not a keyfile NetworkManager reads" in failed.observed
    with pytest.raises(FactError, match=r"\[ipv4\] address1: '192.0.2.x/24,192.0.2.1' is not ADDRESS/PREFIX"):
        parse_keyfile(HEALTHY.replace("192.0.2.70/24", "192.0.2.x/24"), KEYFILE)
