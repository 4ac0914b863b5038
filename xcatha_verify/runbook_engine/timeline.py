"""The run page's timeline: a run's phases, steps and gates on one time axis per node, and the xCAT outage.

Pure functions, from the journal's dict (``Journal.to_dict()``) to what is drawn:

- :func:`build`: the journal -> a :class:`Timeline` of spans in seconds from the run's start, and the
  :class:`Outage` window;
- :func:`svg`: a Timeline -> inline SVG (``templates/timeline.svg.j2``, autoescaped: no name from the
  journal reaches the page unescaped), no script.

The outage window is the part of the run in which no node could serve xCAT's clients, as
``benchmarks/failover_gates.py`` defines it: from the start of the old active node's ``stop <xcatd
unit>`` step to the end of the new node's ``start <xcatd unit>`` step. A run without one of the two
gets the window it truly had: from the run's start when it stopped no xcatd (an unplanned failover:
the outage began before it), to the run's end, or to the journal's last record, when xcatd was not
started again ("not ended"); a dry run has none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from markupsafe import Markup

from xcatha_verify.html import page_templates

__all__ = ["Outage", "Span", "Timeline", "build", "duration_text", "svg", "xcatd_unit"]

XCATD_PHASE = "xcatd"  # runbooks/activate.yml: the phase whose one step is `start <xcatd unit>`
DEFAULT_XCATD_UNIT = "xcatd"  # xCAT's own, as the inventory's default (Inventory.xcatd_unit)
RAN = ("ok", "failed", "interrupted", "running")  # a step that started its command (skipped/dry-run did not)

SpanKind = Literal["phase", "step", "gate"]


def duration_text(seconds: float | None) -> str:
    """``4.2 s`` under a minute, ``3 min 07 s``, ``1 h 02 min``; ``""`` for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _seconds(seconds: float) -> str:
    """An outage length to a tenth of a second at any size (``74.3 s (1 min 14 s)``): it is compared."""
    return f"{seconds:.1f} s" + (f" ({duration_text(seconds)})" if seconds >= 60 else "")


def _at(stamp: object) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.astimezone()


@dataclass(frozen=True)
class Span:
    """A phase, step or gate on its node's lane, in seconds from the run's start."""

    kind: SpanKind
    node: str
    phase: str
    name: str
    status: str
    start_s: float
    end_s: float
    unfinished: bool = False  # still running when the journal was last written: its end is not known

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def tooltip(self) -> str:
        what = {"phase": "phase ", "step": "", "gate": "gate "}[self.kind] + self.name
        what += f" of phase {self.phase}" if self.kind == "gate" else ""
        took = "not finished" if self.unfinished else duration_text(self.length_s)
        return f"{what} on {self.node}: {self.status}, {took} (+{self.start_s:.1f} s to +{self.end_s:.1f} s)"


@dataclass(frozen=True)
class Outage:
    """The xCAT outage inside the run; no window (start_s None) when the run had none."""

    start_s: float | None
    end_s: float | None
    sentence: str  # what the page states, e.g. "xCAT outage: 14.2 s, from stop xcatd on xcatmn1 to ..."
    began_before: bool = False  # the run stopped no xcatd: the outage was already there at its start
    not_ended: bool = False  # xcatd was not started again within the run

    @property
    def length_s(self) -> float | None:
        return None if self.start_s is None or self.end_s is None else self.end_s - self.start_s


@dataclass(frozen=True)
class Timeline:
    nodes: tuple[str, ...]
    phases: tuple[Span, ...]
    steps: tuple[Span, ...]
    gates: tuple[Span, ...]
    end_s: float  # the run's end, or the journal's last record when it has not ended
    ended: bool
    outage: Outage

    def summary(self) -> str:
        """The picture in words, for screen readers (the SVG's <desc>)."""
        def counted(spans: Sequence[Span], what: str) -> str:
            statuses = [s.status for s in spans]
            kinds = ", ".join(f"{statuses.count(k)} {k}" for k in dict.fromkeys(statuses))
            return f"{len(spans)} {what}" + (f" ({kinds})" if spans else "")

        where = ", ".join(self.nodes) or "no node"
        took = duration_text(self.end_s) if self.ended else f"{duration_text(self.end_s)} so far (not ended)"
        return (f"Timeline of the run on {where}: {counted(self.phases, 'phases')}, {counted(self.steps, 'steps')}, "
                f"{counted(self.gates, 'gates')} over {took}. {self.outage.sentence}")


# --- journal -> layout ----------------------------------------------------------------------------------


def xcatd_unit(journal: Mapping[str, Any]) -> str:
    """xcatd's unit as the run named it: the ``start UNIT`` step of its ``xcatd`` phase, else ``xcatd``.

    The journal does not carry the inventory; a deactivation alone (no such phase) with a unit of
    another name finds no ``stop xcatd`` and says so.
    """
    for step in journal.get("steps") or []:
        phase, name = str(step.get("phase", "")), str(step.get("name", ""))
        if phase.rsplit(": ", 1)[-1] == XCATD_PHASE and name.startswith("start ") and len(name) > len("start "):
            return name.removeprefix("start ")
    return DEFAULT_XCATD_UNIT


def _spans(records: Iterable[Mapping[str, Any]], kind: SpanKind, t0: datetime) -> list[Span]:
    """Steps or gates with a start time, placed; one still running ends where it began (build() extends it)."""
    spans = []
    for r in records:
        start = _at(r.get("started_at"))
        if start is None:
            continue
        duration = r.get("duration_s")
        length = float(duration) if isinstance(duration, int | float) else None
        start_s = (start - t0).total_seconds()
        if kind == "gate" and ":" not in str(r.get("started_at"))[19:] and length is not None:
            # Journals before milliseconds stamped a gate when it ended (``+0100``, no colon): move it back.
            start_s -= length
        unfinished = length is None
        end_s = start_s if length is None else start_s + length
        name = str(r.get("name", "")) if kind == "step" else f"{r.get('when')} {_checks(r.get('checks'))}"
        spans.append(Span(kind, str(r.get("node", "")), str(r.get("phase", "")), name, str(r.get("status", "")),
                          start_s, end_s, unfinished))  # fmt: skip
    return spans


def _checks(checks: object) -> str:
    """A gate's checks as the tooltip names them: ``post-activate`` or ``vip.present, pg.accepting``."""
    return ", ".join(str(c) for c in checks) if isinstance(checks, list) else str(checks or "")


def _phases(journal: Mapping[str, Any], spans: Sequence[Span]) -> list[Span]:
    """One band per phase and node, over its steps and gates, in the runbook's order."""
    order = [str(p) for p in journal.get("phases") or []]
    order += [s.phase for s in spans if s.phase not in order]
    bands = []
    for phase in order:
        for node in dict.fromkeys(s.node for s in spans if s.phase == phase):
            mine = [s for s in spans if s.phase == phase and s.node == node]
            status = _band_status([s.status for s in mine])
            bands.append(Span("phase", node, phase, phase, status, min(s.start_s for s in mine),
                              max(s.end_s for s in mine), any(s.unfinished for s in mine)))  # fmt: skip
    return bands


def _band_status(statuses: list[str]) -> str:
    for bad in ("failed", "interrupted", "running", "advisory-failed"):
        if bad in statuses:
            return bad
    return "dry-run" if statuses and all(s == "dry-run" for s in statuses) else "done"


_HOW = {"failed": "failed", "interrupted": "was interrupted", "running": "was still running at the last record"}


def _outage(journal: Mapping[str, Any], steps: Sequence[Span], end_s: float, ended: bool) -> Outage:
    unit = xcatd_unit(journal)
    if journal.get("status") == "dry-run":
        return Outage(None, None, f"No xCAT outage: a dry run stops nothing ({unit} kept running).")
    stop = next((s for s in steps if s.name == f"stop {unit}" and s.status in RAN), None)
    after = steps[steps.index(stop):] if stop is not None else steps
    starts = [s for s in after if s.name == f"start {unit}" and s.status in RAN]
    start = next((s for s in starts if s.status == "ok"), None)
    if stop is None and not starts:
        return Outage(None, None, f"No xCAT outage window: this run neither stopped nor started {unit}.")

    def said(step: Span) -> str:
        return f"{step.name} on {step.node}"

    begin_s = stop.start_s if stop is not None else 0.0
    close_s = start.end_s if start is not None else end_s
    why = []
    if stop is None:
        why.append(f"it began before the run: no stop {unit} in it")
    elif stop.status != "ok":
        why.append(f"{said(stop)} {_HOW[stop.status]}")
    if start is None and not ended:
        why.append("the run has not ended")
    if start is None:
        why.append(f"{said(starts[0])} {_HOW[starts[0].status]}" if starts else f"{unit} was not started again")
    if start is not None:
        until = said(start)
    else:
        until = "the run's end, and on after it" if ended else "the journal's last record"
    length = _seconds(max(0.0, close_s - begin_s)) + (" inside this run" if stop is None else "")
    text = (f"xCAT outage: {'not ended; ' if start is None else ''}{length}, "
            f"from {said(stop) if stop is not None else 'its start'} to {until}")
    text += f" ({'; '.join(why)})." if why else "."
    return Outage(begin_s, close_s, text, began_before=stop is None, not_ended=start is None)


def build(journal: Mapping[str, Any]) -> Timeline:
    """The journal's dict (``Journal.to_dict()``) laid out on one time axis from its ``started_at``."""
    t0 = _at(journal.get("started_at")) or datetime.now().astimezone()
    finished = _at(journal.get("finished_at"))
    steps = _spans(journal.get("steps") or [], "step", t0)
    gates = _spans(journal.get("gates") or [], "gate", t0)
    # The end: the run's, else the latest moment the journal knows of (its last record).
    end_s = max([0.0, *(s.end_s for s in [*steps, *gates])] + ([(finished - t0).total_seconds()] if finished else []))
    steps = [replace(s, end_s=end_s) if s.unfinished else s for s in steps]  # running until the last record
    gates = [replace(g, end_s=end_s) if g.unfinished else g for g in gates]
    nodes = tuple(dict.fromkeys(s.node for s in sorted([*steps, *gates], key=lambda s: s.start_s)))
    return Timeline(
        nodes=nodes, phases=tuple(_phases(journal, [*steps, *gates])), steps=tuple(steps), gates=tuple(gates),
        end_s=end_s, ended=finished is not None, outage=_outage(journal, steps, end_s, finished is not None),
    )  # fmt: skip


# --- layout -> SVG --------------------------------------------------------------------------------------

WIDTH = 1100
LEFT = 110  # node names
RIGHT = 20
TOP = 30  # the outage's label above the lanes
LANE = 74
LANE_GAP = 10
AXIS = 34
LEGEND = 26
CHAR_PX = 6.6  # an average 11 px glyph: whether a label fits in its bar
MIN_BAR_PX = 2.0  # a step of no measurable time is still seen

FILL = {
    "ok": "#1b7f2a", "passed": "#1b7f2a", "done": "#1b7f2a", "failed": "#b3261e", "interrupted": "#d0640a",
    "advisory-failed": "#a15c00", "skipped": "#8a8f98", "pending": "#c0c4ca", "running": "#1f5fbf",
    "dry-run": "#6d9be0",
}  # fmt: skip
BAND = ("#e8edf5", "#f3f5f9")  # phases alternate, so neighbours are told apart
OUTAGE_FILL = "#b3261e"
LEGEND_STATUSES = ("ok", "failed", "interrupted", "skipped", "running", "dry-run")
_svg_env = page_templates("xcatha_verify.runbook_engine")


def _tick_step(span_s: float) -> float:
    """A round tick interval that gives the axis 4 to 10 ticks."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span_s / step <= 10:
            return step
    return 3600 * math.ceil(span_s / 36000)


def _tick_label(seconds: float, step: float) -> str:
    return f"{seconds:.1f} s" if step < 1 else f"{seconds:.0f} s"


def _label(text: str, width_px: float) -> str:
    """`text` when it fits in `width_px`, else nothing (the tooltip still names it)."""
    return text if len(text) * CHAR_PX + 8 <= width_px else ""


def _geometry(tl: Timeline) -> dict[str, Any]:
    """Pixel positions for the template: lanes, bands, bars, gate marks, the outage, the axis."""
    span_s = max(tl.end_s, tl.outage.end_s or 0.0, 1.0) * 1.02  # room for a mark at the very end
    scale = (WIDTH - LEFT - RIGHT) / span_s

    def x(seconds: float) -> float:
        return round(LEFT + max(0.0, seconds) * scale, 1)

    lane_y = {node: TOP + i * (LANE + LANE_GAP) for i, node in enumerate(tl.nodes)}
    lanes_h = max(1, len(tl.nodes)) * (LANE + LANE_GAP) - LANE_GAP
    axis_y = TOP + lanes_h + 6

    def box(s: Span, top: float, height: float) -> dict[str, Any]:
        left = x(s.start_s)
        width = max(MIN_BAR_PX, round(x(s.end_s) - left, 1))
        return {"x": left, "y": top, "w": width, "h": height, "fill": FILL.get(s.status, "#777"),
                "title": s.tooltip(), "status": s.status, "name": s.name}  # fmt: skip

    bands = []
    for i, band in enumerate(tl.phases):
        b = box(band, lane_y[band.node], LANE)
        bands.append(b | {"fill": BAND[i % 2], "label": _label(band.name, b["w"])})
    steps = []
    for s in tl.steps:
        b = box(s, lane_y[s.node] + 20, 24)
        steps.append(b | {"label": _label(s.name, b["w"]), "unfinished": s.unfinished})
    gates = []
    for g in tl.gates:
        b = box(g, lane_y[g.node] + 52, 12)
        end = b["x"] + b["w"]
        diamond = f"M{end},{b['y'] - 3} l6,9 l-6,9 l-6,-9 z"  # at the gate's verdict: where the run went on
        gates.append(b | {"diamond": diamond})
    step = _tick_step(span_s)
    ticks = [{"x": x(i * step), "label": _tick_label(i * step, step)} for i in range(int(span_s / step + 1e-9) + 1)]
    outage = None
    o = tl.outage
    if o.start_s is not None and o.end_s is not None:
        left, right = x(o.start_s), x(o.end_s)
        mid = (left + right) / 2
        label = f"xCAT outage {_seconds(o.length_s or 0.0)}" + (", not ended" if o.not_ended else "")
        outage = {
            "x": left, "w": max(MIN_BAR_PX, round(right - left, 1)), "y": TOP - 4, "h": lanes_h + 8,
            "start_s": f"{o.start_s:.3f}", "end_s": f"{o.end_s:.3f}", "length_s": f"{o.length_s:.3f}",
            "label": label, "label_x": round(min(max(mid, LEFT + 100), WIDTH - RIGHT - 100), 1),
            "began_before": o.began_before, "not_ended": o.not_ended, "title": o.sentence,
        }  # fmt: skip
    legend, left = [], float(LEFT)
    for shape, label, fill in [*(("box", f"step {k}", FILL[k]) for k in LEGEND_STATUSES),
                               ("diamond", "gate (lower row)", FILL["passed"]), ("outage", "xCAT outage", OUTAGE_FILL)]:
        legend.append({"shape": shape, "label": label, "fill": fill, "x": round(left, 1)})
        left += 16 + len(label) * CHAR_PX + 18
    return {
        "width": WIDTH, "height": axis_y + AXIS + LEGEND, "left": LEFT, "right": WIDTH - RIGHT,
        "lanes": [{"node": n, "y": y, "h": LANE, "label_y": y + LANE / 2 + 4} for n, y in lane_y.items()],
        "bands": bands, "steps": steps, "gates": gates, "ticks": ticks, "axis_y": axis_y, "outage": outage,
        "outage_fill": OUTAGE_FILL, "legend": legend, "legend_y": axis_y + AXIS + 8,
        "summary": tl.summary(), "unfinished_end": x(tl.end_s) if not tl.ended else None,
    }  # fmt: skip


def svg(tl: Timeline) -> Markup:
    """The timeline as one inline ``<svg>`` element (role img, labelled), every journal string escaped.

    Jinja's own Markup (an autoescaped macro's output), so the page puts it in as it is."""
    image: Markup = _svg_env.get_template("timeline.svg.j2").module.timeline_svg(_geometry(tl))  # type: ignore[attr-defined]
    return image

