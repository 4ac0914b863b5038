"""A run page against its journal, read independently of timeline.py: the outage window the journal's own
step times give, the one the page marks, and the assertion that they agree (the timeline's unit tests and
the lab's real failovers use it).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

TOLERANCE_S = 0.5  # issue 14: the page's window agrees with the journal's timestamps within this
RAN = ("ok", "failed", "interrupted", "running")  # a step that started its command


def since_start(journal: dict[str, Any], stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - datetime.fromisoformat(journal["started_at"])).total_seconds()


def journal_window(journal: dict[str, Any], unit: str = "xcatd") -> tuple[float, float]:
    """(start, end) in seconds from the run's start: the start of the first `stop UNIT` that ran (else the
    run's start) to the end of the first ok `start UNIT` after it (else the run's end)."""
    steps = journal["steps"]
    stop = next((i for i, s in enumerate(steps) if s["name"] == f"stop {unit}" and s["status"] in RAN), None)
    start = next((s for s in steps[stop or 0:] if s["name"] == f"start {unit}" and s["status"] == "ok"), None)
    begin = 0.0 if stop is None else since_start(journal, steps[stop]["started_at"])
    if start is not None:
        return begin, since_start(journal, start["started_at"]) + start["duration_s"]
    return begin, since_start(journal, journal["finished_at"])


def page_window(html: str) -> tuple[float, float]:
    """The window the page marks: data-start-s and data-end-s of the SVG's #outage-window."""
    found = re.search(r'<g id="outage-window"[^>]*\bdata-start-s="([\d.]+)" data-end-s="([\d.]+)"', html)
    assert found, "no outage window on the page"
    return float(found.group(1)), float(found.group(2))


def assert_page_window_matches_journal(run_dir: Path, unit: str = "xcatd") -> tuple[float, float]:
    """The run page in `run_dir` marks the outage where the journal beside it puts it, within 0.5 s."""
    journal = json.loads((run_dir / "journal.json").read_text())
    page = (run_dir / "index.html").read_text()
    expected, shown = journal_window(journal, unit), page_window(page)
    assert abs(shown[0] - expected[0]) <= TOLERANCE_S and abs(shown[1] - expected[1]) <= TOLERANCE_S, (
        shown, expected)
    stated = re.search(r"xCAT outage: (?:not ended; )?([\d.]+) s", page)
    assert stated and abs(float(stated.group(1)) - (expected[1] - expected[0])) <= TOLERANCE_S, stated
    return expected
