"""The README's generated parts still match the code."""

from __future__ import annotations

import re
from pathlib import Path

from xcatha_verify.checkkit import iter_checks, phase_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_phase_table_is_current() -> None:
    text = README.read_text()
    found = re.search(r"<!-- phase-table:[^\n]*-->\n(.*?)<!-- /phase-table -->", text, re.S)
    assert found, "README lacks the phase table markers"
    assert found.group(1) == phase_table(), "regenerate with: python -c 'from xcatha_verify.checkkit import " \
        "phase_table; print(phase_table())'"


def test_readme_describes_every_check() -> None:
    text = README.read_text()
    missing = [c.id for c in iter_checks() if f"`{c.id}`" not in text.split("What each check looks at")[1]]
    assert missing == []
