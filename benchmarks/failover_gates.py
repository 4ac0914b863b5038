"""Benchmark: a planned failover on the lab: wall time, time in gates, the outage and its physical limit.

Run as root: `.venv/bin/python benchmarks/failover_gates.py [ROUNDS]`. Brings up a lab named by
XCATHA_BENCH_LAB (default "bench") running xCAT 2.19 itself, runs `xcatha-run failover` xcatmn1 ->
xcatmn2 and back ROUNDS times, and prints for each run:

- the wall time, the time in gates (from the run's journal.json) and their share of the wall time
  (target: at most 10%), the median gate (target: under 300 ms), then each gate's time;
- the outage window and the physical limit (below), and outage / limit (target: at most 1.3);
- each step's journal duration and the work counted for it in the limit.

Then it takes the lab down. It asserts nothing.

Outage window. benchmarks/xcatd_prober.py, started in the lab's switch namespace (the lab's admin
workstation), sends table reads (`tabdump site` to xcatd, TCP 3001, in xcatd's own protocol with
root's client certificate) every 100 ms: from the moment
the step two before the old node's `stop xcatd` starts, to the old node's static IP until a read
fails, then to the VIP until one is answered (a read answered by the real xcatd costs its node
about 0.18 s of CPU: reading all along would load the run it measures). A read counts as answered
when xcatd sent the site table's rows with rc 0 within 1 s.
Outage start: when the old node's first failed read after its last answered one was sent. Outage
end: when the first VIP read sent after the outage start was answered. Times are time.time().

Physical limit. The time the procedure's own work took on the nodes, without our SSH, the gates or
waits: the sum over the run's steps (journal.json `steps[]`) of
- a step that started a unit (`start UNIT`, status ok) while systemd started it: systemd's own time,
  ActiveEnterTimestampMonotonic - InactiveExitTimestampMonotonic from `systemctl show` on that node
  right after the run (microseconds; a started unit stays loaded, so its stamps are still there);
- a step that stopped a unit (`stop UNIT`, status ok) while systemd stopped it: systemd's own time,
  the stamp of PID 1's "Stopped UNIT." log line minus that of its "Stopping UNIT..." line
  (_SOURCE_REALTIME_TIMESTAMP from `journalctl` on the node, microseconds). These are the moments
  systemd records as ActiveExit and InactiveEnter, but `systemctl show` cannot give them after the
  stop: systemd unloads an inactive unit nothing references at once (the lab's units are not
  enabled at boot), and a unit loaded again reports 0 for every timestamp;
- every other step (VIP up/down, mounts and unmounts, makedns/makedhcp/makeconservercf, disable,
  recording the storage id, a skipped step, and a start or stop that found the unit already in that
  state, e.g. `start named` after `makedns -n` restarted named, whose start makedns already counts):
  its journal duration_s minus the SSH round trips the runner made for it and minus its retry
  sleeps, floored at 0. The runner (xcatha_verify/runbook_engine/executor.py) runs per step at most one
  `true` to check the node is reachable (none when the node answered one less than a second ago;
  counted as one for every step, which can only make the limit smaller), the command once per
  attempt, sleeping retry_delay between attempts, and in each phase one read per kind of `when`
  condition, by the first step that has one (taken from the rendered runbooks): `site_domain` reads
  the site table through xcatd (its cost: the median of 3 such reads on the node before the run),
  `console_server:*` one file (one round trip) when console.lock exists.
  The round trip is per node: the median of 10 testinfra host.run("true") over the lab's reused
  ControlMaster connection (the runner's own ssh config and control path), measured just before
  the failover.
"While systemd started/stopped it": the transition began (InactiveExit / "Stopping") inside the
step's window. Everything is put on time.time(): the nodes read the machine's CLOCK_MONOTONIC (no
time namespace of their own; checked), so systemd's *Monotonic stamps move over with one offset, and
the log lines carry wall-clock stamps. A step's window runs from the mtime of the first journal
version listing it running (the journal is rewritten atomically when each step starts and ends,
docs/journal-schema.md, and watched every 10 ms) to the mtime of the first version listing it ended;
a version not seen is replaced by the other end -/+ duration_s; a window never reaches past the next
step's start. (The journal's own started_at had only whole seconds when this was written; it has
milliseconds now, and the mtimes stay.)

Also printed beside the limit: the same sum with exactly one round trip off each non-systemd step
(the narrower reading: it leaves one of the runner's round trips in every step), and the part of the
limit from the old node's `stop xcatd` to the new node's `start xcatd` (both included): the work that
lies inside the outage window, which the outage can never beat.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xcatha_verify.facts.node import SITE_TABLE_QUERY, XCAT_TIMEOUT_S
from xcatha_verify.inventory import Inventory, load_inventory
from xcatha_verify.lab.lab import Lab
from xcatha_verify.lab.layout import LabLayout
from xcatha_verify.runbook_engine import loading, model
from xcatha_verify.targets import get_host

RUN = str(Path(sys.executable).parent / "xcatha-run")
PROBER = Path(__file__).resolve().parent / "xcatd_prober.py"
LAB_NAME = os.environ.get("XCATHA_BENCH_LAB", "bench")
SSH_SAMPLES = 10
JOURNAL_POLL_S = 0.01
PROBE_LEAD_STEPS = 2  # the probes start when the step this many before the old node's `stop xcatd` starts
START_STAMPS = ("InactiveExitTimestampMonotonic", "ActiveEnterTimestampMonotonic")
# systemd's catalog ids of its "Stopping UNIT..." and "Stopped UNIT." log lines.
UNIT_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
UNIT_STOPPED = "9d1aaa27d60140bd96365438aad20286"
TARGETS = {"gate share": 0.10, "median gate": 0.300, "outage / limit": 1.3}


@dataclass(frozen=True)
class StepWork:
    """One journal step and the time of the procedure's own work counted for it in the limit."""

    phase: str
    name: str
    node: str
    journal_s: float
    work_s: float
    work_one_trip_s: float  # the narrower reading: only one round trip taken off
    how: str


@dataclass(frozen=True)
class Outage:
    last_answer_sent: float  # the old node's last answered read
    start: float
    end: float | None  # None: the VIP never answered after the start


# ---------------------------------------------------------------------- SSH round trip
def ssh_round_trip(inventory: Inventory, node: str) -> float:
    """Median seconds of host.run("true") to `node`, the call the runner makes before every step."""
    host = get_host(inventory, inventory.node(node))
    host.run("true")  # opens the ControlMaster if it is not open yet: not a round trip of a step
    samples = []
    for _ in range(SSH_SAMPLES):
        started = time.monotonic()
        host.run("true")
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def condition_read(inventory: Inventory, node: str) -> float:
    """Median seconds of the read behind `when: site_domain` (NodeFacts.site_table) on `node`."""
    facts_query = f"timeout {XCAT_TIMEOUT_S} {SITE_TABLE_QUERY}"
    host = get_host(inventory, inventory.node(node))
    samples = []
    for _ in range(3):
        started = time.monotonic()
        host.run(facts_query)
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


# ---------------------------------------------------------------------- step windows from the journal
class JournalWatcher(threading.Thread):
    """Notes when each step of the run in `report_dir` was first listed running, and first listed ended,
    as the journal versions' mtimes (time.time() seconds)."""

    def __init__(self, report_dir: Path, go: tuple[str, str, Path]) -> None:
        """`go`: (node, step name, file): the file is created once the step PROBE_LEAD_STEPS before
        that step of that node is listed running (or anything after it)."""
        super().__init__(daemon=True)
        self.report_dir = report_dir
        self.go = go
        self.listed_running: dict[int, float] = {}
        self.listed_ended: dict[int, float] = {}
        self._done = threading.Event()
        self._seen: tuple[int, int] | None = None

    def run(self) -> None:
        while not self._done.is_set():
            self._poll()
            self._done.wait(JOURNAL_POLL_S)
        self._poll()

    def finish(self) -> None:
        self._done.set()
        self.join()

    def _poll(self) -> None:
        path = next(self.report_dir.glob("*/journal.json"), None)
        if path is None:
            return
        try:
            # fstat of the open file: the mtime of the very version read (renames replace the file).
            with path.open() as journal_file:
                stat = os.fstat(journal_file.fileno())
                if (stat.st_ino, stat.st_mtime_ns) == self._seen:
                    return
                steps = json.load(journal_file)["steps"]
        except (OSError, ValueError, KeyError):
            return
        self._seen = (stat.st_ino, stat.st_mtime_ns)
        written = stat.st_mtime_ns / 1e9
        node, name, go_file = self.go
        marks = [i for i, step in enumerate(steps) if (step["node"], step["name"]) == (node, name)]
        if marks and not go_file.exists():
            lead = max(0, marks[0] - PROBE_LEAD_STEPS)
            if any(step["status"] != "pending" for step in steps[lead:]):
                go_file.touch()
        for i, step in enumerate(steps):
            if step["status"] == "running":
                self.listed_running.setdefault(i, written)
            elif step["status"] != "pending":
                self.listed_ended.setdefault(i, written)

    def windows(self, durations: list[float]) -> list[tuple[float, float] | None]:
        """Each step's [start, end] in time.time() seconds, None for a step never seen.

        Start: the version first listing it running (written before the runner starts its clock), else
        the version first listing it ended minus its duration. End: the version first listing it ended
        (written after the command returned), else start plus duration; never past the next step's start,
        so a version seen late cannot stretch a window over its neighbour.
        """
        spans: list[tuple[float, float] | None] = []
        for i, duration in enumerate(durations):
            start = self.listed_running.get(i)
            end = self.listed_ended.get(i)
            if start is None and end is None:
                spans.append(None)
                continue
            start = end - duration if start is None else start
            spans.append((start, start + duration if end is None else end))
        starts = [span[0] if span else None for span in spans]
        for i, span in enumerate(spans):
            later = next((t for t in starts[i + 1 :] if t is not None), None)
            if span and later is not None and span[1] > later:
                spans[i] = (span[0], max(span[0], later))
        return spans


# ---------------------------------------------------------------------- probes and the outage window
def start_prober(lab: Lab, source: str, out: Path, go_file: Path) -> subprocess.Popen[bytes]:
    # xcatd's own protocol, with root's client certificate from the shared data.
    certs = lab.layout.shared_dir("/root/.xcat")
    args = [str(go_file), str(lab.layout.static_ip(source)), str(lab.layout.vip), str(certs)]
    with out.open("wb") as stdout:
        return subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{lab.layout.switch_ns}", sys.executable, str(PROBER), *args],
            stdout=stdout, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip


def stop_prober(prober: subprocess.Popen[bytes], out: Path) -> list[dict[str, Any]]:
    prober.terminate()
    try:
        prober.wait(timeout=5)
    except subprocess.TimeoutExpired:
        prober.kill()
        prober.wait()
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def outage_window(probes: list[dict[str, Any]]) -> Outage | None:
    old = sorted((p for p in probes if p["target"] == "old"), key=lambda p: p["sent"])
    answered = [i for i, p in enumerate(old) if p["ok"]]
    failed_after = [p for p in old[answered[-1] + 1 :] if not p["ok"]] if answered else []
    if not failed_after:
        return None  # the old node never answered, or never stopped answering
    start = failed_after[0]["sent"]
    vip_answers = sorted(p["answered"] for p in probes if p["target"] == "vip" and p["ok"] and p["sent"] >= start)
    return Outage(old[answered[-1]]["sent"], start, vip_answers[0] if vip_answers else None)


# ---------------------------------------------------------------------- the physical limit
def shares_monotonic_clock(lab: Lab, node: str) -> bool:
    """True when the node's processes (its systemd's timestamps) read the machine's CLOCK_MONOTONIC."""
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{lab.pid(node)}/ns/time") == os.readlink("/proc/self/ns/time")
    return True  # a kernel without time namespaces has one monotonic clock


def unit_starts(lab: Lab, node: str, units: list[str]) -> dict[str, list[tuple[float, float]]]:
    """Per unit its last start as systemd keeps it: [(InactiveExit, ActiveEnter)] in time.time() seconds."""
    if not units:
        return {}
    argv = ["systemctl", "show", "-p", "Id", "-p", START_STAMPS[0], "-p", START_STAMPS[1], *units]
    blocks = lab.run(node, argv).stdout.strip().split("\n\n")
    # systemd's *Monotonic stamps are CLOCK_MONOTONIC microseconds: one offset puts them on time.time().
    epoch_offset = time.time() - time.monotonic()
    starts: dict[str, list[tuple[float, float]]] = {}
    for unit, block in zip(units, blocks, strict=True):  # systemctl show prints the units in the order asked
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        began, ended = (int(values.get(name) or 0) for name in START_STAMPS)
        starts[unit] = [(began / 1e6 + epoch_offset, ended / 1e6 + epoch_offset)] if 0 < began <= ended else []
    return starts


def unit_stops(lab: Lab, node: str, units: list[str], since: float) -> dict[str, list[tuple[float, float]]]:
    """Per unit its stops since `since`, from systemd's own log lines on the node: [(Stopping, Stopped)].

    Not `systemctl show`: systemd unloads an inactive unit that nothing references as soon as it has
    stopped (the lab's units are not enabled at boot), and a unit loaded again shows 0 for every
    timestamp. PID 1 logs the same two moments, stamped by itself in _SOURCE_REALTIME_TIMESTAMP.
    """
    argv = ["journalctl", "--no-pager", "-o", "json", f"--since=@{since:.6f}", "_PID=1",
            f"MESSAGE_ID={UNIT_STOPPING}", f"MESSAGE_ID={UNIT_STOPPED}",
            "--output-fields=UNIT,MESSAGE_ID,_SOURCE_REALTIME_TIMESTAMP"]  # fmt: skip
    stopping: dict[str, float] = {}
    stops: dict[str, list[tuple[float, float]]] = {unit: [] for unit in units}
    for line in lab.run(node, argv).stdout.splitlines():
        entry = json.loads(line)
        unit = str(entry.get("UNIT", "")).removesuffix(".service")
        stamp = int(entry.get("_SOURCE_REALTIME_TIMESTAMP") or entry["__REALTIME_TIMESTAMP"]) / 1e6
        if unit not in stops:
            continue
        if entry.get("MESSAGE_ID") == UNIT_STOPPING:
            stopping[unit] = stamp
        elif unit in stopping:
            stops[unit].append((stopping.pop(unit), stamp))
    return stops


def unit_of(step: model.Step) -> tuple[str, str] | None:
    """("start"|"stop", UNIT) for a runbook step that starts or stops a unit, by its name and argv."""
    verb, _, unit = step.name.partition(" ")
    if verb in ("start", "stop") and step.command and step.command[-1] == unit:
        return verb, unit
    return None


def runbook_steps(inventory: Inventory, source: str, target: str) -> dict[tuple[str, str], model.Step]:
    """The failover's steps as rendered (deactivate the source, then activate the target), by (phase, name)."""
    book = loading.load_for("failover", inventory, inventory.node(target))
    assert book.phases[0].node == source, f"the failover to {target} deactivates {book.phases[0].node} first"
    return {(phase.name, step.name): step for phase in book.phases for step in phase.steps}


def physical_work(
    journal: dict[str, Any], windows: list[tuple[float, float] | None], steps: dict[tuple[str, str], model.Step],
    transitions: dict[tuple[str, str, str], list[tuple[float, float]]], round_trip: dict[str, float],
    condition_cost: dict[str, float],
) -> list[StepWork]:  # fmt: skip
    """Each journal step's own work on its node (the rules are in the module docstring).

    `transitions`: (node, "start"|"stop", unit) -> [(began, ended)] in time.time() seconds.
    """
    work = []
    conditions_read: set[tuple[str, str, str]] = set()  # (node, phase, kind): the runner reads each once a phase
    for record, window in zip(journal["steps"], windows, strict=True):
        duration = record.get("duration_s") or 0.0
        where = (record["phase"], record["name"], record["node"])
        step = steps.get((record["phase"], record["name"]))
        unit_step = unit_of(step) if step else None
        if unit_step and window and record["status"] == "ok":
            verb, unit = unit_step
            inside = [
                (b, e) for b, e in transitions.get((record["node"], verb, unit), []) if window[0] <= b <= window[1]
            ]
            if inside:
                seconds = sum(e - b for b, e in inside)
                how = "systemd: ActiveEnter - InactiveExit" if verb == "start" else "systemd's log: Stopped - Stopping"
                work.append(StepWork(*where, duration, seconds, seconds, how))
                continue
        ran = 0 if record["status"] == "skipped" else max(1, record.get("attempts") or 1)
        trip = round_trip[record["node"]]
        reading = 0.0  # the `when` read, made by the first step of its kind in the phase
        kind = step.when.split(":", 1)[0] if step and step.when else None
        if kind and (record["node"], record["phase"], kind) not in conditions_read:
            conditions_read.add((record["node"], record["phase"], kind))
            reading = condition_cost[record["node"]] if kind == "site_domain" else trip
        trips = 1 + ran
        sleeps = max(0, ran - 1) * (step.retry_delay_s if step else 0.0)
        seconds = max(0.0, duration - trips * trip - reading - sleeps)
        how = f"journal - {trips} round trips" + (f" - {kind} read {reading:.2f}s" if reading else "") + (
            f" - {sleeps:.0f}s retry sleeps" if sleeps else "")
        if unit_step:
            how += f" (no {unit_step[0]} of {unit_step[1]} during the step)"
        if step is None:
            how += " (step not in the rendered runbooks)"
        work.append(StepWork(*where, duration, seconds, max(0.0, duration - trip - reading), how))
    return work


def outage_steps(work: list[StepWork], source: str, target: str, xcatd_unit: str) -> list[StepWork]:
    """The steps from the old node's `stop xcatd` to the new node's `start xcatd`, both included."""
    names = [(w.node, w.name) for w in work]
    try:
        first, last = names.index((source, f"stop {xcatd_unit}")), names.index((target, f"start {xcatd_unit}"))
    except ValueError:
        return []
    return work[first : last + 1]


# ---------------------------------------------------------------------- one failover
def failover(lab: Lab, inventory: Inventory, source: str, target: str, report_dir: Path) -> dict[str, float]:
    """Run one planned failover and print its figures; returns the figures the summary needs."""
    report_dir.mkdir()
    probe_log = report_dir / "probes.jsonl"
    go_file = report_dir / "probe-go"
    xcatd_unit = inventory.xcatd_unit
    prober = start_prober(lab, source, probe_log, go_file)
    watcher = JournalWatcher(report_dir, (source, f"stop {xcatd_unit}", go_file))
    try:
        round_trip = {node: ssh_round_trip(inventory, node) for node in (source, target)}
        condition_cost = {source: 0.0, target: condition_read(inventory, target)}
        watcher.start()
        run_started = time.time()
        started = time.monotonic()
        proc = subprocess.run(
            [RUN, "failover", "--from", source, "--to", target, "--yes", "--inventory", str(lab.layout.inventory),
             "--report-dir", str(report_dir)], capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - started
    finally:
        if watcher.is_alive():
            watcher.finish()
        probes = stop_prober(prober, probe_log)
    journal = json.loads(next(report_dir.glob("*/journal.json")).read_text())
    steps = runbook_steps(inventory, source, target)
    units: dict[str, set[str]] = {"start": set(), "stop": set()}
    for step in steps.values():
        if (unit_step := unit_of(step)) is not None:
            units[unit_step[0]].add(unit_step[1])
    transitions = {(target, "start", u): t for u, t in unit_starts(lab, target, sorted(units["start"])).items()}
    transitions |= {
        (source, "stop", u): t for u, t in unit_stops(lab, source, sorted(units["stop"]), run_started).items()
    }
    windows = watcher.windows([s.get("duration_s") or 0.0 for s in journal["steps"]])
    work = physical_work(journal, windows, steps, transitions, round_trip, condition_cost)
    in_outage = outage_steps(work, source, target, xcatd_unit)
    outage = outage_window(probes)

    gate_times = [g.get("duration_s") or 0.0 for g in journal["gates"]]
    gates = sum(gate_times)
    median_gate = statistics.median(gate_times) if gate_times else 0.0
    step_total = sum(s.get("duration_s") or 0.0 for s in journal["steps"])
    limit = sum(w.work_s for w in work)
    limit_one_trip = sum(w.work_one_trip_s for w in work)
    limit_in_outage = sum(w.work_s for w in in_outage)

    print(
        f"{source} -> {target}: exit {proc.returncode}, wall {wall:.1f}s, steps {step_total:.1f}s, "
        f"gates {gates:.1f}s ({len(gate_times)} gates, {100 * gates / wall:.1f}% of the total; target at most "
        f"{100 * TARGETS['gate share']:.0f}%), median gate {1000 * median_gate:.0f} ms "
        f"(target under {1000 * TARGETS['median gate']:.0f} ms)"
    )
    if proc.returncode != 0:
        print("    run output (last lines): " + " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:]))
    for gate in journal["gates"]:
        print(
            f"    gate {gate['when']:<6} {gate['phase']:<22} on {gate['node']}: "
            f"{gate.get('duration_s') or 0:5.2f}s  {','.join(gate['checks'])}"
        )
    print(
        f"    SSH round trip (median of {SSH_SAMPLES} host.run('true')): "
        + ", ".join(f"{node} {1000 * rtt:.0f} ms" for node, rtt in round_trip.items())
    )
    if not shares_monotonic_clock(lab, source) or not shares_monotonic_clock(lab, target):
        print("    note: a node has a time namespace of its own: systemd's timestamps are not on the step windows")
    print("    work on the nodes per step (journal duration -> counted in the limit):")
    in_outage_ids = {id(w) for w in in_outage}
    for w in work:
        mark = "*" if id(w) in in_outage_ids else " "
        print(f"    {mark} {w.node} {w.phase + ' / ' + w.name:<58} {w.journal_s:6.3f}s -> {w.work_s:6.3f}s  {w.how}")
    print(
        f"    physical limit: {limit:.2f}s for the whole run ({limit_one_trip:.2f}s with one round trip off "
        f"each step); {limit_in_outage:.2f}s from 'stop {xcatd_unit}' to 'start {xcatd_unit}' (steps marked *)"
    )
    figures = {"wall": wall, "gate share": gates / wall, "median gate": median_gate, "limit": limit,
               "limit in outage": limit_in_outage}  # fmt: skip
    if outage is None or outage.end is None:
        why = "the old node never stopped answering" if outage is None else "the VIP never answered again"
        print(f"    outage: not measured ({why}; {len(probes)} probes)")
        return figures
    figures["outage"] = seconds = outage.end - outage.start
    last_answered, first_failed, vip_answered = (t - run_started for t in (outage.last_answer_sent, outage.start,
                                                                           outage.end))  # fmt: skip
    print(
        f"    outage: {seconds:.2f}s (since the run started: the old node's last answered read was sent at "
        f"+{last_answered:.2f}s, its first failed one at +{first_failed:.2f}s; the VIP answered at "
        f"+{vip_answered:.2f}s; {len(probes)} probes)"
    )
    if limit > 0:
        print(
            f"    outage / limit: {seconds / limit:.2f} (target at most {TARGETS['outage / limit']}); "
            f"against the work inside the outage window: "
            + (f"{seconds / limit_in_outage:.2f}" if limit_in_outage > 0 else "n/a")
        )
    return figures


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    lab = Lab(LabLayout(name=LAB_NAME))
    lab.up()
    results = []
    try:
        inventory = load_inventory(lab.layout.inventory)
        with tempfile.TemporaryDirectory() as tmp:
            pairs = [("xcatmn1", "xcatmn2"), ("xcatmn2", "xcatmn1")] * rounds
            for n, (source, target) in enumerate(pairs, 1):
                results.append(failover(lab, inventory, source, target, Path(tmp) / f"run-{n}"))
    finally:
        lab.down()
    shares = [r["gate share"] for r in results]
    print(f"gate share: best {100 * min(shares):.1f}%, worst {100 * max(shares):.1f}% (target: at most 10%)")
    medians = [r["median gate"] for r in results]
    print(f"median gate: best {1000 * min(medians):.0f} ms, worst {1000 * max(medians):.0f} ms (target: under 300 ms)")
    ratios = [r["outage"] / r["limit"] for r in results if "outage" in r and r["limit"] > 0]
    if ratios:
        print(f"outage / limit: best {min(ratios):.2f}, worst {max(ratios):.2f} (target: at most 1.3)")
    inside = [r["outage"] / r["limit in outage"] for r in results if "outage" in r and r["limit in outage"] > 0]
    if inside:
        print(f"outage / work inside the outage window: best {min(inside):.2f}, worst {max(inside):.2f}")


if __name__ == "__main__":
    main()
