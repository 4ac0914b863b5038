"""The lab's configuration-file templates (xcatha_verify/lab/templates/*.j2)."""

from __future__ import annotations

from typing import Any

import jinja2

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("xcatha_verify.lab", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - config files, not HTML
)


def render(name: str, **values: Any) -> str:
    return _TEMPLATES.get_template(name).render(**values)
