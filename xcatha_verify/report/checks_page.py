"""The checks page: pytest-html 4's self-contained report, made for an admin through its hooks.

pytest-html stays the engine (its table, sorting and filters, its script); what changes is what goes in:
a verdict banner above the results, the rows' check id and observed / expected / fix as the run page
shows them, pytest's traceback and captured output behind a closed "details for developers" toggle,
and the page's order (results before the environment). Filters that cannot happen in a check run
(expected failures, unexpected passes, reruns) are hidden by CSS, not removed: pytest-html's script
looks up every filter's checkbox and would fail without it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from xcatha_verify.errors import EXIT_UNREACHABLE
from xcatha_verify.report.console import summary_line
from xcatha_verify.report.records import CheckResult, RunSummary, blocked_by_unreachable

# pytest-html's outcomes, in the order its filters are shown; the last four never happen in a check run.
FILTERS = ("failed", "error", "skipped", "passed")
HIDDEN_FILTERS = ("xfailed", "xpassed", "retried", "rerun")
FILTER_LABELS = {"failed": "Failed", "error": "Errors", "skipped": "Skipped or blocked", "passed": "Passed"}
DEV_SUMMARY = "details for developers"

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
  background: #f4f5f7; max-width: 1300px; margin: 0 auto; padding: .5em 1.5em 3em; min-width: 0;
  display: flex; flex-direction: column; }
body > #title { order: -3; font-size: 1.3em; color: #444; }
body > .summary { order: -2; }
body > #results-table { order: -1; }
p, a { color: inherit; }
.run-count { display: none; }
.xcatha-banner { background: #fff; border: 1px solid #d9dce1; border-left: 8px solid #777; border-radius: 6px;
  padding: .8em 1.2em; margin: 0 0 1em; }
.xcatha-banner h2 { font-size: 2.2em; margin: 0; }
.xcatha-banner p { margin: .2em 0; font-size: 1.1em; }
.xcatha-banner.ok { border-left-color: #1b7f2a; } .xcatha-banner.ok h2 { color: #1b7f2a; }
.xcatha-banner.bad { border-left-color: #b3261e; } .xcatha-banner.bad h2 { color: #b3261e; }
.xcatha-banner.warn { border-left-color: #a15c00; } .xcatha-banner.warn h2 { color: #a15c00; }
""" + "".join(
    f".filters input[data-test-result={name}], .filters input[data-test-result={name}] + span {{ display: none; }}\n"
    for name in HIDDEN_FILTERS
) + """
#results-table { color: #1d1d1f; font-size: 14px; background: #fff; }
#results-table th, #results-table td { vertical-align: top; border-color: #e3e5e8; }
#results-table .col-result { font-weight: 700; white-space: nowrap; }
#results-table .col-testId { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  white-space: nowrap; }
.col-detail { width: 70%; }
.col-detail .k { display: block; font-size: .75em; font-weight: 700; letter-spacing: .05em; text-transform: uppercase;
  color: #555; }
.col-detail pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
  background: #1e1f22; color: #e8e8e8; padding: .4em .7em; border-radius: 4px; white-space: pre-wrap;
  word-break: break-word; margin: .1em 0 .5em; }
.col-detail .fix pre { background: #fff; color: #1d1d1f; border: 2px solid #1f5fbf; font-size: 14px;
  user-select: all; }
.col-detail .blocked-by, .col-detail .message { margin: 0 0 .4em; }
.passed .col-detail pre { background: none; color: #1d1d1f; padding: 0; margin: 0; }
.logwrapper { max-height: none; overflow: visible; background: none; }
.logwrapper .logexpander { display: none; }
.logwrapper .log { position: static; top: 0; height: auto; min-height: 0; border: 0; padding: 0;
  font-family: inherit; white-space: normal; }
details.xcatha-dev summary { cursor: pointer; color: #1f5fbf; font-size: .9em; }
details.xcatha-dev pre { white-space: pre-wrap; font-size: 12px; background: #f0f1f3; padding: .5em; }
"""


def arrange_filters(outcomes: dict[str, dict[str, Any]]) -> None:
    """pytest-html's filter counters: ours first, in our order and words; the others kept (it counts into
    them by name) but last, hidden by STYLE."""
    for name in FILTERS:
        if name in outcomes:
            outcomes[name]["label"] = FILTER_LABELS[name]
    order = [*FILTERS, *(name for name in outcomes if name not in FILTERS)]
    arranged = {name: outcomes[name] for name in order if name in outcomes}
    outcomes.clear()
    outcomes.update(arranged)


def banner(summary: RunSummary, versions: dict[str, str]) -> str:
    """READY, NOT READY or NOT READY naming the unreachable node in large letters; the verdict's reason
    and the counts under it."""
    unreachable = sorted({r.blocked_by for r in summary.blocked if blocked_by_unreachable(r.blocked_by)})
    if summary.ready:
        tone, headline = "ok", "READY"
    elif summary.exit_status == EXIT_UNREACHABLE:
        tone, headline = "warn", "NOT READY: " + (", ".join(unreachable) or f"{summary.node} unreachable")
    else:
        tone, headline = "bad", "NOT READY"
    reason = summary.verdict.split(": ", 1)[-1]  # the headline says READY or NOT READY already
    parts = [f'<section class="xcatha-banner {tone}">', f"<h2>{escape(headline)}</h2>",
             f'<p class="xcatha-verdict">{escape(reason)}</p>',
             f'<p class="xcatha-counts">{escape(summary_line(summary))}</p>']  # fmt: skip
    if versions:
        parts.append("<p>xCAT: " + escape(", ".join(f"{n} {v}" for n, v in versions.items())) + "</p>")
    return "".join(parts) + "</section>"


def table_header(cells: list[str]) -> None:
    """pytest-html's Result, Test, Duration, Links become Result, Check, Observed / expected / fix, Duration.

    The Test column is kept under its own name (``testId``): its cell is the row's id and sort key in
    pytest-html's script. Links goes: a check has none.
    """
    _drop_links(cells)
    cells[1] = '<th class="sortable" data-column-type="testId">Check</th>'
    cells.insert(2, "<th>Observed / expected / fix</th>")


def table_row(result: CheckResult | None, nodeid: str, cells: list[str]) -> None:
    """The row matching table_header: the check's id, then what it saw, wanted and the fix."""
    _drop_links(cells)
    cells[1] = f'<td class="col-testId">{escape(result.check_id if result else nodeid)}</td>'
    cells.insert(2, f'<td class="col-detail">{detail_html(result)}</td>')


def _drop_links(cells: list[str]) -> None:
    cells[:] = [c for c in cells if 'class="col-links"' not in c and c != "<th>Links</th>"]


def detail_html(result: CheckResult | None) -> str:
    """Observed, expected and fix as blocks (the fix as a command to copy), a cause or a one-line message."""
    if result is None:
        return ""
    parts = []
    if result.blocked_by:
        parts.append(f'<div class="blocked-by"><span class="k">blocked by</span>{escape(result.blocked_by)}</div>')
    for name, value in (("observed", result.observed), ("expected", result.expected), ("fix", result.fix)):
        if value:
            parts.append(f'<div class="{name}"><span class="k">{name}</span><pre>{escape(value)}</pre></div>')
    if result.message:
        parts.append(f'<div class="message">{escape(result.message)}</div>')
    return "".join(parts)


def developer_log(logs: list[str]) -> None:
    """pytest's traceback and captured output (already escaped by pytest-html) behind a closed toggle;
    nothing at all when there is none (pytest-html's "No log output captured.")."""
    captured = [text for text in logs if text.strip() and text != "No log output captured."]
    body = "\n".join(captured)
    toggle = f'<details class="xcatha-dev"><summary>{DEV_SUMMARY}</summary><pre>{body}</pre></details>'
    logs[:] = [toggle] if captured else []
