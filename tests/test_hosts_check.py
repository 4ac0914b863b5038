"""hosts.inventory_names on /etc/hosts texts; every printed fix is run verbatim (GNU sed) and repairs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.hosts import check_hosts_inventory_names
from xcatha_verify.checkkit import CheckFailed
from xcatha_verify.inventory import Inventory, load_inventory

INVENTORY = Path(__file__).parent / "inventories" / "minimal.yml"  # xcatmn1 192.0.2.70, xcatmn2 192.0.2.5
HEALTHY = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
192.0.2.7\txcatmn.cluster.example xcatmn
192.0.2.70\txcatmn1.cluster.example xcatmn1
192.0.2.5\txcatmn2.cluster.example xcatmn2
192.0.2.101\tcn1
"""


class HostsOnly:
    """The one fact the check reads: a file's text."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, path: str) -> str | None:
        assert path == "/etc/hosts"
        return self.path.read_text()


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


def _judge(inventory: Inventory, hosts: Path) -> CheckFailed | None:
    try:
        check_hosts_inventory_names(HostsOnly(hosts), inventory)  # type: ignore[arg-type]
    except CheckFailed as failed:
        return failed
    return None


@pytest.mark.parametrize(("broken", "observed"), [
    # The node's own line with a stale address.
    (HEALTHY.replace("192.0.2.5\t", "192.0.2.99\t"), "xcatmn2 maps to 192.0.2.99, not 192.0.2.5"),
    # A stale copy above the right line: it wins the lookup.
    ("192.0.2.99\txcatmn2\n" + HEALTHY, "xcatmn2 maps to 192.0.2.5 and also to 192.0.2.99"),
    # The name on another host's line; that host's name must stay.
    (HEALTHY.replace("192.0.2.101\tcn1", "192.0.2.101\tcn1 xcatmn1.cluster.example xcatmn1 cn1-bmc"),
     "xcatmn1 maps to 192.0.2.70 and also to 192.0.2.101"),
    # Missing altogether.
    (HEALTHY.replace("192.0.2.70\txcatmn1.cluster.example xcatmn1\n", ""), "xcatmn1 maps to nothing, not 192.0.2.70"),
    # The VIP's short name also on another address; and two stale lines at once (deleted from the last up).
    (HEALTHY + "192.0.2.99\txcatmn\n192.0.2.98\txcatmn2\n",
     "xcatmn maps to 192.0.2.7 and also to 192.0.2.99"),
    # Any name on two addresses: a lookup takes the first; the later line goes (cn2's own name stays),
    # and a line holding only the name is deleted.
    (HEALTHY + "192.0.2.102\tcn2 cn1\n192.0.2.103\tcn1\n",
     "cn1 maps to 192.0.2.101 and also to 192.0.2.102, 192.0.2.103 (a lookup takes 192.0.2.101)"),
])  # fmt: skip
def test_a_wrong_hosts_file_fails_and_its_printed_fix_repairs_it(
    inventory: Inventory, tmp_path: Path, broken: str, observed: str
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(broken)
    failed = _judge(inventory, hosts)
    assert failed is not None and observed in failed.observed, failed
    # Verbatim, but on this test's copy instead of the machine's own /etc/hosts.
    script = failed.fix.replace("/etc/hosts", str(hosts))
    assert "/etc/hosts" in failed.fix and str(hosts) in script
    subprocess.run(["sh", "-c", script], check=True, timeout=10)
    assert _judge(inventory, hosts) is None, hosts.read_text()
    assert "cn1" in hosts.read_text() and "localhost" in hosts.read_text()
    assert "192.0.2.102\tcn2" in hosts.read_text() or "192.0.2.102" not in broken


def test_a_healthy_file_and_its_variants_pass(inventory: Inventory, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    for text in (HEALTHY, HEALTHY.upper().replace("LOCALHOST", "localhost"), "# comment\n" + HEALTHY + "\n\n",
                 HEALTHY + "2001:db8::5\txcatmn2\n"):  # another address family: not a second address
        hosts.write_text(text)
        assert _judge(inventory, hosts) is None, text
