"""xcatha-lab: bring the two-node proving ground up and down, look inside it, break and repair it."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time

from xcatha_verify.cli.common import Parser, add_version, run_main, setup_logging
from xcatha_verify.errors import UsageError
from xcatha_verify.lab import faults, system, xcatsource
from xcatha_verify.lab.lab import Lab, labs_present
from xcatha_verify.lab.layout import NODE_NAMES, LabLayout

EXIT_STATUS = "exit status: 0 done, 1 the command failed, 2 usage error (or not root, or no such lab)"
EXAMPLES = {
    "up": "xcatha-lab up\n  xcatha-lab --name rehearsal up --subnet 198.51.100.0/24",
    "down": "xcatha-lab down   # also finds what a lab of that name left without its state file",
    "status": "xcatha-lab status\n  xcatha-lab status --json",
    "shell": "xcatha-lab shell xcatmn1\n  xcatha-lab shell xcatmn2 -- systemctl is-active xcatd",
    "fault": "xcatha-lab faults\n  xcatha-lab fault pg-cannot-start xcatmn2",
    "repair": "xcatha-lab repair pg-cannot-start xcatmn2",
    "power": "xcatha-lab power off xcatmn1\n  xcatha-lab power status xcatmn1",
}
# What a non-root user may run: the rest reads namespaces and cgroups, and would end in a traceback.
WITHOUT_ROOT = ("faults",)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="xcatha-lab", free_after=("shell",), epilog=EXIT_STATUS,
        description="A real two-node xCAT HA pair (xcatmn1 active, xcatmn2 standby) in namespaces on this machine.",
    )  # fmt: skip
    add_version(parser)
    parser.add_argument("--name", default=os.environ.get("XCATHA_LAB", "lab"), help="lab name (default: lab)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        examples = f"examples:\n  {EXAMPLES[name]}\n\n" if name in EXAMPLES else ""
        return sub.add_parser(name, help=summary, description=f"xcatha-lab {name}: {summary}.",
                              epilog=examples + EXIT_STATUS,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip

    up = command("up", "build the lab: xcatmn1 active, xcatmn2 standby")
    up.add_argument("--subnet", default="192.0.2.0/24", help="lab network (default: TEST-NET-1 192.0.2.0/24)")
    up.add_argument("--interface", default="eth0", help="node interface name (default: eth0)")
    up.add_argument("--label", default=None, help="VIP label (default: INTERFACE:0)")
    command("down", "remove the lab and everything it made")
    status = command("status", "what runs where")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    shell = command("shell", "a shell (or a command) inside a node")
    shell.add_argument("node", choices=NODE_NAMES)
    shell.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    command("inventory", "print the path of the lab's inventory file")
    command("faults", "list the faults that can be injected")
    cache = command("cache", "the assembled xCAT trees kept between labs: show or clear them")
    cache.add_argument("action", choices=("show", "clear"))
    power = command("power", "power a node on or off (hard, as a BMC does), or show its power state")
    power.add_argument("action", choices=("on", "off", "status"))
    power.add_argument("node", choices=NODE_NAMES)
    reboot = command("reboot", "power a node off and on again: it boots on its kept disk")
    reboot.add_argument("node", choices=NODE_NAMES)
    for verb, summary in (("fault", "inject a fault on a node (`xcatha-lab faults` lists them)"),
                          ("repair", "undo a fault injected on a node")):  # fmt: skip
        p = command(verb, summary)
        p.add_argument("fault", choices=sorted(faults.FAULTS))
        p.add_argument("node", choices=NODE_NAMES)
    return parser


def _up(args: argparse.Namespace) -> int:
    try:
        subnet = ipaddress.IPv4Network(args.subnet)
    except ValueError as exc:
        raise UsageError(f"--subnet {args.subnet!r}: expected an IPv4 network like 192.0.2.0/24 ({exc})") from None
    layout = LabLayout(args.name, subnet, args.interface, args.label or f"{args.interface}:0")
    lab = Lab(layout)
    seconds = lab.up(progress=lambda msg: print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True))
    print(f"lab {layout.name!r} up in {seconds:.1f}s")
    print(f"inventory: {layout.inventory}")
    print(f"ssh:       ssh -F {layout.ssh_config} xcatmn1")
    return 0


def _down(args: argparse.Namespace) -> int:
    if args.name in labs_present():
        lab = Lab.load(args.name)
    else:
        # No state file (lost, or a build killed before writing it): every name the lab used derives
        # from its name, so a lab of that name is found and removed all the same.
        lab = Lab(LabLayout(args.name))
        if not lab.leftovers():
            print(f"lab {args.name!r} is not up; nothing to do")
            return 0
        print(f"lab {args.name!r} has no state file; removing what it left: {', '.join(lab.leftovers())}")
    seconds = lab.down()
    print(f"lab {args.name!r} down in {seconds:.1f}s")
    return 0


def _status(args: argparse.Namespace) -> int:
    report = Lab.load(args.name).status()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"lab {report['lab']}: {report['status']}, VIP {report['vip']}")
    print(f"inventory: {report['inventory']}")
    nodes = report["nodes"]
    assert isinstance(nodes, dict)
    for node, info in nodes.items():
        if not info.get("running"):
            print(f"  {node} ({info['static_ip']}): power {info['power']}")
            continue
        role = "holds the VIP" if info["vip"] else "no VIP"
        storage = "shared storage connected" if info["shared_storage"] else "shared storage disconnected"
        running = [s for s, state in info["services"].items() if state == "active"]
        print(f"  {node} ({info['static_ip']}): {role}; {storage}")
        print(f"    running: {', '.join(running) or 'none'}")
        print(f"    enabled at boot: {', '.join(info['enabled_at_boot']) or 'none'}")
    return 0


def _shell(args: argparse.Namespace) -> int:
    lab = Lab.load(args.name)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    argv = system.in_node_argv(lab.pid(args.node), cmd or ["/bin/bash", "-l"])
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 - the shell replaces this process, as `ssh` would
    return 0  # not reached


def _cache(args: argparse.Namespace) -> int:
    if args.action == "clear":
        removed = xcatsource.clear_cache()
        print(f"removed {len(removed)} cached xCAT tree(s) and their kept set-ups from {xcatsource.cache_root()}")
        return 0
    source = xcatsource.find_source()
    print(f"xCAT {xcatsource.XCAT_VERSION} source: {source.path} ({source.kind}, {source.checked}, checked)")
    tree = xcatsource.assembled_tree()
    print(f"assembled /opt/xcat: {tree}")
    for path in xcatsource.cached():
        print(f"cached: {path}")
        for kept in sorted(path.glob("initialised-*.tar")):
            print(f"  xCAT's set-up kept for one lab layout: {kept.name} ({kept.stat().st_size >> 20} MiB)")
    return 0


def _power(args: argparse.Namespace) -> int:
    lab = Lab.load(args.name)
    if args.action == "on":
        was_on = lab.machine(args.node).is_on
        lab.power_on(args.node)
        print(f"{args.node}: on" + (" (it was on already)" if was_on else " (booted)"))
    elif args.action == "off":
        print(f"{args.node}: off" + ("" if lab.power_off(args.node) else " (it was off already)"))
    else:
        print(f"{args.node}: {lab.power_state(args.node)}")
    return 0


def _reboot(args: argparse.Namespace) -> int:
    lab = Lab.load(args.name)
    start = time.monotonic()
    lab.reboot(args.node)
    print(f"{args.node}: rebooted in {time.monotonic() - start:.1f}s")
    return 0


def _inventory(args: argparse.Namespace) -> int:
    print(Lab.load(args.name).layout.inventory)
    return 0


def _faults(_args: argparse.Namespace) -> int:
    for fault in faults.FAULTS.values():
        print(f"{fault.name:22} {fault.description}")
    return 0


def _fault(args: argparse.Namespace) -> int:
    lab = Lab.load(args.name)
    if args.command == "fault":
        faults.inject(lab, args.fault, args.node)
        print(f"injected {args.fault} on {args.node}: {faults.FAULTS[args.fault].description}")
    else:
        faults.repair(lab, args.fault, args.node)
        print(f"repaired {args.fault} on {args.node}")
    return 0


COMMANDS = {
    "up": _up, "down": _down, "status": _status, "shell": _shell, "inventory": _inventory,
    "faults": _faults, "fault": _fault, "repair": _fault, "power": _power, "reboot": _reboot, "cache": _cache,
}  # fmt: skip


def _as_root(args: argparse.Namespace) -> int:
    if args.command not in WITHOUT_ROOT and os.geteuid() != 0:
        raise UsageError(f"xcatha-lab {args.command} needs root (the lab's namespaces, mounts and cgroups are root's)")
    return COMMANDS[args.command](args)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    run_main("xcatha-lab", lambda: _as_root(args))


if __name__ == "__main__":
    main()
