"""The node's own network: its static IP configured to come back at boot."""

from __future__ import annotations

import ipaddress
import shlex

from xcatha_verify.checkkit import PHASES, check, fail, verdict
from xcatha_verify.facts.ifcfg import BootAddress, parse_ifcfg
from xcatha_verify.facts.network import FactError
from xcatha_verify.facts.nmkeyfile import parse_keyfile
from xcatha_verify.facts.node import NodeFacts
from xcatha_verify.inventory import Inventory, Node


@check("net.static_ip_persistent", phases=PHASES)
def check_static_ip_persistent(facts: NodeFacts, inventory: Inventory, node: Node) -> None:
    """The node's own static IP is configured persistently on the VIP's interface."""
    path = node.network_config
    text = facts.file(path)
    ip = str(node.static_ip)
    if text is None:
        ok, observed = False, f"{path} does not exist"
    elif path.rsplit("/", 1)[-1].startswith("ifcfg-"):
        config = parse_ifcfg(text, path)
        if isinstance(node.static_ip, ipaddress.IPv4Address):
            ok = BootAddress(node.static_ip, node.prefix) in config.boot_addresses(inventory.vip.interface)
        else:  # IPv6: IPV6ADDR and IPV6ADDR_SECONDARIES, each ADDRESS/PREFIX
            v6 = [w for k, v in config.values.items() if k.startswith("IPV6ADDR") for w in v.split()]
            ok = config.onboot and f"{ip}/{node.prefix}" in v6
        observed = f"{path}: {config.describe()}" + "".join(f"; {p}" for p in config.problems)
    elif path.endswith(".nmconnection"):
        try:
            keyfile = parse_keyfile(text, path)
        except FactError as exc:
            fail(observed=str(exc), expected=f"{path} a NetworkManager keyfile configuring {ip}/{node.prefix}",
                 fix=f"nmcli connection load {shlex.quote(path)}  # shows NetworkManager's own complaint")  # fmt: skip
        wanted = ipaddress.ip_interface(f"{ip}/{node.prefix}")
        verdict(
            wanted in keyfile.boot_addresses(inventory.vip.interface),
            observed=f"{path}: {keyfile.describe()}",
            expected=f"{path} configures {wanted} on {inventory.vip.interface} at boot (method manual, autoconnect)",
            fix=f"nmcli connection modify {shlex.quote(keyfile.connection_id)} connection.interface-name "
            f"{shlex.quote(inventory.vip.interface)} connection.autoconnect yes ipv{wanted.version}.method manual "
            f"+ipv{wanted.version}.addresses {wanted}",
        )
        return
    else:
        words = text.replace("/", " ").replace("=", " ").split()
        ok = ip in words
        observed = f"{path} does not mention {ip}" if not ok else f"{path} configures {ip}"
    verdict(
        ok,
        observed=observed,
        expected=f"{path} configures {ip}/{node.prefix} on {inventory.vip.interface} at boot",
        fix=(
            f'write {path} with DEVICE="{inventory.vip.interface}" BOOTPROTO="static" IPADDR="{ip}" '
            f'PREFIX="{node.prefix}" ONBOOT="yes"'
        ),
    )
