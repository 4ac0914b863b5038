"""JUnit XML as pytest's junitxml writes it, with blocked checks told apart from skipped ones.

pytest writes a blocked check (a kind of skip, see ``checkkit.CheckBlocked``) as ``<skipped
type="pytest.skip">``; a CI system or monitor reading the XML should see that it could not judge
and why, so its element becomes ``<skipped type="blocked" message="blocked by <cause>: <why>">``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from xcatha_verify.files import write_atomic
from xcatha_verify.report.records import CheckResult


def mark_blocked(path: str | os.PathLike[str], results: Iterable[CheckResult]) -> None:
    """Rewrite the JUnit file at `path` so each blocked result's testcase says so (matched by check_id)."""
    blocked = {r.check_id: r for r in results if r.outcome == "blocked"}
    if not blocked:
        return
    tree = ET.parse(path)  # noqa: S314 (the file pytest itself wrote a moment ago)
    for case in tree.iter("testcase"):
        check_id = next((p.get("value") for p in case.iter("property") if p.get("name") == "check_id"), None)
        result = blocked.get(check_id or "")
        skipped = case.find("skipped")
        if result is None or skipped is None:
            continue
        skipped.set("type", "blocked")
        skipped.set("message", f"blocked by {result.blocked_by}: {result.message}")
        skipped.text = skipped.get("message")
    text = ET.tostring(tree.getroot(), encoding="unicode")
    write_atomic(path, '<?xml version="1.0" encoding="utf-8"?>' + text)
