"""The run page: ``<run dir>/index.html``, one self-contained HTML page of a runbook run, from its journal.

It answers, in this order: what happened (headline, message, cluster, runbook, arguments, times, the
xCAT outage), the run as a picture (``timeline.py``: phases, steps and gates on one time axis per node,
the outage window shaded), what each phase did (its gates with the failing checks' observed/expected/fix
and links to the gate reports, its steps with their output tails), and what to do next (the fixes and
the exact ``xcatha-run ... --resume`` command after a failure, the drift check after a success).

Rendered with Jinja2 from ``templates/run.html.j2`` (autoescaped, StrictUndefined); inline CSS, no
script, no external resource. The executor calls :func:`write_run_report` when a run ends; it knows
nothing about HTML.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from xcatha_verify.files import write_atomic
from xcatha_verify.html import page_templates
from xcatha_verify.report import redact
from xcatha_verify.runbook_engine.journal import Journal
from xcatha_verify.runbook_engine.journal_records import GateRecord
from xcatha_verify.runbook_engine.resume import abandoned, completed_phases, effective_status
from xcatha_verify.runbook_engine.timeline import build, duration_text, svg

__all__ = [
    "OPTION_NAMES", "RUN_PROGRAM", "VERIFY_PROGRAM", "active_check_command", "drift_command", "failback_command",
    "headline", "render_run_report",
    "rerun_command", "resume_command", "write_run_report",
]

RUN_PROGRAM = "xcatha-run"
VERIFY_PROGRAM = "xcatha-verify"
REPORT_NAME = "index.html"
# xcatha-run's options whose argparse dest is not the option's name.
OPTION_NAMES = {"from_node": "--from", "to_node": "--to"}
# Never carried from the original arguments into a suggested command.
_NOT_REPEATED = frozenset({"runbook", "resume", "break_lock", "dry_run"})
_FAILED_GATES = ("failed",)
_BAD_STEPS = ("failed", "interrupted")

_env = page_templates("xcatha_verify.runbook_engine")


# --- commands ---------------------------------------------------------------------------------------


def _options(args: Mapping[str, Any], inventory: str) -> list[str]:
    """The journal's arguments as long options: ``{"node": "x", "no_color": True}`` -> ``--node x --no-color``.

    Keys are argparse dests (or option names); True is a bare flag, False and None are left out, a list
    repeats the option; OPTION_NAMES spells the options whose dest differs (``from_node`` -> ``--from``).
    ``runbook`` (positional), ``resume``, ``break_lock`` and ``dry_run`` are never repeated.
    ``--inventory`` is added from the journal when the arguments lack it.
    """
    argv: list[str] = []
    for key, value in args.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest in _NOT_REPEATED or value is None or value is False:
            continue
        flag = OPTION_NAMES.get(dest, "--" + dest.replace("_", "-"))
        if value is True:
            argv.append(flag)
        elif isinstance(value, list | tuple):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    if "--inventory" not in argv and inventory:
        argv += ["--inventory", inventory]
    return argv


def _base(journal: Journal) -> list[str]:
    """``xcatha-run RUNBOOK``: the runbook as it was asked for (``failover``, even when it ran as a variant)."""
    return [RUN_PROGRAM, str(journal.args.get("runbook") or journal.runbook)]


def rerun_command(journal: Journal) -> str:
    """``xcatha-run RUNBOOK --opt value ...``: the run again, for real, from the start."""
    return redact(shlex.join([*_base(journal), *_options(journal.args, journal.inventory)]))


def resume_command(journal: Journal) -> str:
    """``xcatha-run RUNBOOK --opt value ... --resume``: the same run continued from its first incomplete phase."""
    return redact(shlex.join([*_base(journal), *_options(journal.args, journal.inventory), "--resume"]))


# What a go-back command keeps of the run's own options: where things are and how to run, not what to do.
_KEPT_GOING_BACK = frozenset({"inventory", "report_dir", "runbook_dir", "yes", "verbose"})


def failback_command(journal: Journal, to_node: str) -> str:
    """``xcatha-run failback --to NODE --inventory INV ...``: the role back to `to_node`, with the run's own options."""
    kept = {k: v for k, v in journal.args.items() if str(k).lstrip("-").replace("-", "_") in _KEPT_GOING_BACK}
    return redact(shlex.join([RUN_PROGRAM, "failback", "--to", to_node, *_options(kept, journal.inventory)]))


def unplanned_command(journal: Journal, to_node: str) -> str:
    """``xcatha-run failover --to NODE --unplanned ...``: the role to `to_node` without the other node, which
    must be fenced first (the run asks for the proof)."""
    kept = {k: v for k, v in journal.args.items() if str(k).lstrip("-").replace("-", "_") in _KEPT_GOING_BACK}
    argv = [RUN_PROGRAM, "failover", "--to", to_node, "--unplanned", *_options(kept, journal.inventory)]
    return redact(shlex.join(argv))


def active_check_command(journal: Journal, node: str) -> str:
    """``xcatha-verify --inventory INV --node NODE active``: is `node` the active node, whole and green."""
    inventory = journal.args.get("inventory") or journal.inventory
    argv = [VERIFY_PROGRAM, *(["--inventory", str(inventory)] if inventory else []), "--node", node, "active"]
    return redact(shlex.join(argv))


def drift_command(journal: Journal) -> str:
    """``xcatha-verify drift --inventory INV``: both nodes checked against their roles."""
    argv = [VERIFY_PROGRAM, "drift"]
    inventory = journal.args.get("inventory") or journal.inventory
    if inventory:
        argv += ["--inventory", str(inventory)]
    report_dir = journal.args.get("report_dir") or journal.args.get("report-dir")
    if report_dir:
        argv += ["--report-dir", str(report_dir)]
    return redact(shlex.join(argv))


# --- the page ---------------------------------------------------------------------------------------


def headline(journal: Journal) -> str:
    """``SUCCEEDED``, ``FAILED at phase X``, ``INTERRUPTED at phase X``, ``DRY RUN``, ``REFUSED`` or ``RUNNING``."""
    status = effective_status(journal)
    where = journal.failed_phase or _stopped_phase(journal)
    if status == "succeeded":
        return "SUCCEEDED"
    if status == "failed":
        return f"FAILED at phase {where}" if where else "FAILED"
    if status == "interrupted":
        killed = " (the process was killed)" if abandoned(journal) else ""
        return (f"INTERRUPTED at phase {where}" if where else "INTERRUPTED") + killed
    if status == "dry-run":
        return "DRY RUN"
    if status == "refused":
        return "REFUSED"
    return "RUNNING"


def _stopped_phase(journal: Journal) -> str | None:
    done = completed_phases(journal)
    for name in journal.phase_names():
        reached = any(s.phase == name for s in journal.steps) or any(g.phase == name for g in journal.gates)
        if name not in done and reached:
            return name
    return None


def _time(stamp: str | None) -> str:
    return stamp.replace("T", " ") if stamp else ""


def _run_seconds(journal: Journal) -> float | None:
    if not journal.finished_at:
        return None
    try:
        end, start = datetime.fromisoformat(journal.finished_at), datetime.fromisoformat(journal.started_at)
        return (end - start).total_seconds()
    except ValueError:
        return None


def _href(path: str, run_dir: Path | None) -> str:
    """A link that works from the page: relative paths as they are, others as file: URIs."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    if run_dir is not None:
        try:
            return p.relative_to(run_dir.resolve()).as_posix()
        except ValueError:
            pass
    return p.as_uri()


def _failing(gate: GateRecord) -> list[dict[str, str]]:
    """What the page shows of a gate's red: each failing check, or why its node could not be reached."""
    if gate.unreachable:
        return [{"check_id": "(unreachable)", "node": gate.node, "observed": gate.unreachable,
                 "expected": f"{gate.node} reachable", "fix": f"check ssh to {gate.node}", "message": ""}]  # fmt: skip
    return [{"check_id": f.check_id, "node": f.node or gate.node, "observed": f.observed, "expected": f.expected,
             "fix": f.fix, "message": f"blocked by {f.blocked_by}: {f.message}" if f.blocked_by else f.message}
            for f in gate.failing]  # fmt: skip


def _phase_status(journal: Journal, name: str, done: list[str]) -> str:
    steps = [s for s in journal.steps if s.phase == name]
    gates = [g for g in journal.gates if g.phase == name]
    if not steps and not gates:
        return "done" if name in done else "not reached"
    if any(s.status in _BAD_STEPS for s in steps) or any(g.status in _FAILED_GATES for g in gates):
        return "failed"
    if name in done:
        return "done"
    if steps and all(s.status == "dry-run" for s in steps):
        return "dry run"
    return "incomplete"


def _context(journal: Journal, run_dir: Path | None) -> dict[str, Any]:
    done = completed_phases(journal)
    status = effective_status(journal)
    phases: list[dict[str, Any]] = []
    for name in journal.phase_names():
        gates = [{
            "when": g.when, "node": g.node, "checks": ", ".join(g.checks), "status": g.status,
            "started_at": _time(g.started_at), "duration": duration_text(g.duration_s),
            "failing": _failing(g),
            "reports": [{"name": Path(p).name, "href": _href(p, run_dir)} for p in g.report_paths],
        } for g in journal.gates if g.phase == name]  # fmt: skip
        steps = [{
            "anchor": f"step-{i}", "index": s.index, "name": s.name, "node": s.node, "command": s.command,
            "status": s.status, "exit_status": "" if s.exit_status is None else str(s.exit_status),
            "started_at": _time(s.started_at), "duration": duration_text(s.duration_s), "attempts": s.attempts,
            "output_tail": s.output_tail, "note": s.note, "open": s.status in _BAD_STEPS,
        } for i, s in enumerate(journal.steps) if s.phase == name]  # fmt: skip
        phases.append({
            "name": name, "status": _phase_status(journal, name, done),
            "gates_before": [g for g in gates if g["when"] == "before"],
            "gates_after": [g for g in gates if g["when"] == "after"], "steps": steps,
        })  # fmt: skip

    blocking = [f for g in journal.gates if g.status in _FAILED_GATES for f in _failing(g)]
    advisory = [f for g in journal.gates if g.status == "advisory-failed" for f in _failing(g)]
    bad_steps = [s for p in phases for s in p["steps"] if s["status"] in _BAD_STEPS]
    resume_from = next((n for n in journal.phase_names() if n not in done), None)
    tone = {"succeeded": "ok", "dry-run": "info", "running": "info", "refused": "warn"}.get(status, "bad")
    timeline = build(journal.to_dict())
    return {
        "title": redact(f"{journal.runbook} {journal.cluster} {journal.run_id}".strip()),
        "headline": headline(journal), "tone": tone, "status": status, "message": journal.message,
        "cluster": journal.cluster, "runbook": journal.runbook, "run_id": journal.run_id,
        "inventory": journal.inventory, "host": journal.host, "pid": journal.pid,
        "arguments": [(str(k), "" if v is None else str(v)) for k, v in journal.args.items()],
        "command": rerun_command(journal),
        "started_at": _time(journal.started_at), "finished_at": _time(journal.finished_at),
        "duration": duration_text(_run_seconds(journal)),
        "phases": phases, "done": done, "resume_from": resume_from,
        "blocking": blocking, "advisory": advisory, "bad_steps": bad_steps,
        "resume_command": resume_command(journal), "rerun_command": rerun_command(journal),
        "drift_command": drift_command(journal), "pair_now": journal.pair_now,
        "outage": timeline.outage, "timeline": svg(timeline) if timeline.steps or timeline.gates else "",
        "generated_at": _time(datetime.now().astimezone().isoformat(timespec="seconds")),
    }  # fmt: skip


def render_run_report(journal: Journal, run_dir: Path | None = None) -> str:
    """The page's HTML. Everything shown is masked again here (``redact``), besides the journal's own masking."""
    clean = Journal.from_dict(journal.to_dict(), run_dir=journal.run_dir)
    return _env.get_template("run.html.j2").render(**_context(clean, run_dir or journal.run_dir))


def write_run_report(journal: Journal, run_dir: Path, *, mode: int = 0o644) -> Path:
    """Write ``run_dir/index.html`` atomically (temporary file, `mode`, rename); its path.

    Mode 0644 like the gate reports beside it: the content is already masked.
    """
    run_dir = Path(run_dir)
    return write_atomic(run_dir / REPORT_NAME, render_run_report(journal, run_dir), mode)
