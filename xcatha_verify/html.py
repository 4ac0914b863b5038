"""The HTML pages' templates (the run page, the drift history): autoescaped, and an undefined name is an error."""

from __future__ import annotations

import jinja2


def page_templates(package: str) -> jinja2.Environment:
    """The templates in `package`'s ``templates/`` directory, ready to render a page."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
