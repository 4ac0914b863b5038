"""What every command shares: timestamped logging, and exceptions turned into one line and an exit status."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from xcatha_verify.errors import XcathaError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    """Warnings (or everything with -v) to stderr; other handlers, such as a run's log file, may take more."""
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(LOG_FORMAT))
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(console)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def run_main(prog: str, body: Callable[[], int]) -> None:
    """Run a command body; a known error is one line on stderr and its exit status, never a traceback."""
    try:
        status = body()
    except XcathaError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        status = exc.exit_status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)
