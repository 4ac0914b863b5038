"""Shell-safety helpers.

Inventory values (paths, unit names, labels) end up inside commands run on the nodes. They are refused
early when a shell would read them specially; commands still quote every argument (shlex).
"""

from __future__ import annotations

SHELL_METACHARACTERS = frozenset(";&|$`<>()'\"\\*?!{}[]")

def unsafe_characters(text: str) -> str:
    """The characters of `text` a shell treats specially (metacharacters, whitespace, control
    characters), each once, in order of appearance; empty when the text is safe."""
    bad = (c for c in text if c in SHELL_METACHARACTERS or c.isspace() or not c.isprintable())
    return "".join(dict.fromkeys(bad))


def is_shell_safe(text: str) -> bool:
    """True for a non-empty word a shell reads literally."""
    return bool(text) and not unsafe_characters(text)
