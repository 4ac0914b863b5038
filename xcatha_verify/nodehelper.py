"""What the helpers xcatha-verify runs on a node (`python -m xcatha_verify.vip`, `.arp`) share: their
error is one line on stderr and an exit status, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_helper(body: Callable[[], int], error: type[Exception], prefix: str, status: int) -> int:
    """`body()`'s exit status; when it raises `error`, "PREFIX: message" on stderr and `status`."""
    try:
        return body()
    except error as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return status
