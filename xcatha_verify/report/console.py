"""The check run's console: colour only on a terminal, each failing check in full, a recap of what failed.

Whether to colour is decided once, in the process that owns the terminal (:func:`use_color`), and
handed to the pytest runs as ``--color=yes|no``: a forked child writes to a file and cannot tell.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from xcatha_verify.report.records import CheckResult, RunSummary

COLOR_CHOICES = ("auto", "always", "never")
LABELS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "blocked": "BLOCK", "skipped": "SKIP"}
CONSOLE_WIDTH = 320  # a line without a fix (a blocked or skipped check, an error's message) is cut here
OBSERVED_LINES = 15  # an observed value longer than this (a diff) is cut: the HTML report has it whole
RECAP_HINT_WIDTH = 100
_INDENT = " " * 6  # under the check id, past the label
_SGR = {"passed": "32", "failed": "1;31", "error": "1;31", "blocked": "33", "skipped": "33", "bold": "1",
        "dim": "2", "ok": "1;32", "bad": "1;31"}  # fmt: skip


def use_color(choice: str, stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """``always``/``never`` as said; ``auto``: a terminal, unless ``NO_COLOR`` is set to anything or TERM is dumb."""
    if choice not in COLOR_CHOICES:
        raise ValueError(f"color {choice!r}: expected one of {', '.join(COLOR_CHOICES)}")
    if choice != "auto":
        return choice == "always"
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return (sys.stdout if stream is None else stream).isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m" if color and text else text


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def _field(name: str, value: str, color: bool, max_lines: int | None = None) -> list[str]:
    """``observed: ...`` under the check, further lines aligned under the first; the fix is never cut."""
    lines = [line.rstrip().replace("\t", " ") for line in value.strip("\n").splitlines()] or [""]
    cut = len(lines) - max_lines if max_lines is not None and len(lines) > max_lines else 0
    if cut:
        lines = [*lines[:max_lines], f"({cut} more lines in the HTML report)"]
    head = f"{name + ':':10}"
    out = [f"{_INDENT}{paint(head, 'dim', color)}{lines[0]}"]
    out += [f"{_INDENT}{' ' * len(head)}{line}" for line in lines[1:]]
    return out


def check_lines(result: CheckResult, width: int = 25, color: bool = False) -> list[str]:
    """One check on the console: ``PASS  vip.absent  xcatmn2`` on one line; a failure or error with its
    observed, expected and whole fix on the lines under it; a blocked or skipped check with its reason."""
    label = paint(f"{LABELS[result.outcome]:5}", result.outcome, color)
    line = f"{label} {result.check_id:{width}} {result.node}"
    if result.outcome == "blocked":
        return [clip(f"{line}  blocked by {result.blocked_by}: {first_line(result.message)}", CONSOLE_WIDTH)]
    if result.outcome == "skipped":
        return [clip(f"{line}  {first_line(result.message)}".rstrip(), CONSOLE_WIDTH)]
    if result.outcome == "passed":
        return [line]
    lines = [line]
    if result.observed:
        lines += _field("observed", result.observed, color, OBSERVED_LINES)
    if result.expected:
        lines += _field("expected", result.expected, color)
    if result.fix:
        lines += _field("fix", result.fix, color)
    if result.message and not (result.observed or result.fix):
        lines.append(_INDENT + clip(first_line(result.message), CONSOLE_WIDTH))
    return lines


def summary_line(summary: RunSummary, color: bool = False) -> str:
    """``xcatmn2 pre-activate: 9 passed, 2 failed, 0 errors`` (blocked and skipped when there are any)."""
    counts = summary.counts
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    blocked = f", {counts['blocked']} blocked" if counts["blocked"] else ""
    head = " ".join(filter(None, (summary.node, summary.phase))) or "checks"
    text = f"{head}: {counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors{blocked}{skipped}"
    return paint(text, "bad" if summary.not_ready else "ok", color)


def recap_lines(summaries: Iterable[RunSummary], color: bool = False) -> list[str]:
    """After every node's block: each failed or errored check on one line (label, node, id, what was
    seen), the blocked checks per node and cause, the nodes that could not be reached; nothing when all passed."""
    summaries = list(summaries)
    failing = [r for s in summaries for r in s.failing]
    unreachable = [s for s in summaries if s.unreachable]
    blocked = [s for s in summaries if s.blocked]
    if not (failing or unreachable or blocked):
        return []
    node_width = max(len(s.node) for s in summaries)
    id_width = max([len(r.check_id) for r in failing] + [1])
    words = [f"{len(failing)} failing check{'s' if len(failing) != 1 else ''}"]
    if blocked:
        words.append(f"{sum(len(s.blocked) for s in blocked)} blocked")
    if unreachable:
        words.append(f"{len(unreachable)} node{'s' if len(unreachable) != 1 else ''} unreachable")
    lines = ["", paint("== recap: " + ", ".join(words), "bad", color)]
    for result in failing:
        hint = first_line(result.observed) or first_line(result.message)
        lines.append(f"{paint(f'{LABELS[result.outcome]:5}', result.outcome, color)} {result.node:{node_width}}  "
                     f"{result.check_id:{id_width}}  {clip(hint, RECAP_HINT_WIDTH)}".rstrip())
    for summary in blocked:
        causes: dict[str, list[str]] = {}
        for result in summary.blocked:
            causes.setdefault(result.blocked_by, []).append(result.check_id)
        for cause, ids in causes.items():
            lines.append(f"{paint('BLOCK', 'blocked', color)} {summary.node:{node_width}}  "
                         f"{', '.join(ids)} (blocked by {cause})")
    for summary in unreachable:
        lines.append(f"{paint('UNREACHABLE', 'bad', color)} {summary.node}  {first_line(summary.unreachable)}")
    return lines
