"""ISC dhcpd's configuration: which file the daemon reads, and whether it is the one makedhcp writes."""

from __future__ import annotations

import ipaddress
import re

from xcatha_verify.facts.system import effective_exec_start

# Where makedhcp writes (xCAT's dhcp.pm): /etc/dhcpd.conf where that file exists, else /etc/dhcp/dhcpd.conf.
XCAT_DHCPD_CONF = ("/etc/dhcpd.conf", "/etc/dhcp/dhcpd.conf")
XCAT_HEADER = "#xCAT generated dhcp configuration"
# ISC dhcpd 4's compiled-in configuration file (Debian and RHEL alike), used without -cf.
DHCPD_DEFAULT_CONF = "/etc/dhcp/dhcpd.conf"
# The running daemons' command lines (IPv4 and IPv6 dhcpd share the name; -6 tells them apart).
DHCPD_ARGS = "ps -o args= -C dhcpd"

_CF = re.compile(r"(?:^|\s)-cf\s+(\S+)")
_SUBNET = re.compile(r"^\s*subnet\s+(\S+)\s+netmask\s+(\S+)\s*\{", re.MULTILINE)
_OMAPI_KEY = re.compile(r"^\s*omapi-key\s+\S+\s*;", re.MULTILINE)


def config_in_use(ps_args: str, systemctl_cat: str) -> tuple[str, str]:
    """(the configuration file dhcpd reads, whose word that is): the running IPv4 daemon's -cf, else
    the -cf of the unit's effective ExecStart, else dhcpd's default."""
    running = [line for line in ps_args.splitlines() if line.strip() and " -6" not in f" {line}"]
    if running:
        found, whose = _CF.search(running[0]), "the running dhcpd's"
    else:
        start = effective_exec_start(systemctl_cat)
        found, whose = (_CF.search(start[1]) if start else None), "its unit's ExecStart"
    return (found.group(1), f"{whose} -cf") if found else (DHCPD_DEFAULT_CONF, f"{whose} default")


def declared_subnets(text: str) -> list[ipaddress.IPv4Network]:
    """The `subnet ADDRESS netmask MASK {` declarations (comments aside); malformed ones left out."""
    uncommented = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    subnets = []
    for address, mask in _SUBNET.findall(uncommented):
        try:
            subnets.append(ipaddress.IPv4Network(f"{address}/{mask}"))
        except ValueError:
            continue
    return subnets


def has_omapi_key(text: str) -> bool:
    return bool(_OMAPI_KEY.search("\n".join(line.split("#", 1)[0] for line in text.splitlines())))
