"""One exception root; the CLI alone turns these into exit codes and one-line messages.

The exit statuses, for every command: 0 done (every check passed), 1 stopped on red (a check
failed), 2 bad input, 3 a node could not be reached.
"""

import re

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def escape_controls(text: str) -> str:
    """`text` with each character that is not printable (newline, CR, ESC and the other C0/C1 controls, DEL, line
    separators, invisible format characters) written as its Python escape: a message naming a hostile file name or
    value stays one line and cannot move a terminal's cursor."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class XcathaError(Exception):
    """Root of every error this project raises on purpose."""

    exit_status = EXIT_FAILED


class UsageError(XcathaError, ValueError):
    """Bad command-line use or bad input: exit status 2."""

    exit_status = EXIT_USAGE


class InventoryError(UsageError):
    """The inventory file is missing, unreadable or invalid.

    The message always names the file, the key path and what was expected, on one line: control characters in
    any of them are escaped (`path`, `key` and `expected` keep them as given).
    """

    def __init__(self, path: str, key: str, expected: str) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        where = f"{path}: {key}" if key else path
        super().__init__(escape_controls(f"inventory error: {where}: {expected}"))


class LabError(XcathaError, RuntimeError):
    """The lab could not be built, reached or torn down."""


class LabUnsupported(UsageError):
    """The machine cannot host a lab (not root, no namespaces): exit status 2."""


class NodeUnreachable(XcathaError, ConnectionError):
    """A node could not be reached: exit status 3."""

    exit_status = EXIT_UNREACHABLE


_DUMPED_STDERR = re.compile(r"CommandResult\(.*?_stderr=b(?P<q>['\"])(?P<stderr>.*?)(?P=q)\)", re.S)


def without_command_dump(line: str) -> str:
    """`line` with a testinfra ``CommandResult(backend=<...>, ...)`` dump replaced by the last line of the
    stderr it carries (ssh's own words), as a traceback's last line prints it."""
    def last_stderr_line(found: re.Match[str]) -> str:
        text = found.group("stderr").replace("\\r", "").replace("\\n", "\n")
        lines = [part.strip() for part in text.splitlines() if part.strip()]
        return lines[-1] if lines else "ssh failed"

    return _DUMPED_STDERR.sub(last_stderr_line, line)


def ssh_reason(exc: BaseException) -> str:
    """Why a command could not run on a node, as ssh said it: the last line of its stderr.

    testinfra raises RuntimeError(CommandResult) when ssh itself fails; printed whole, that is an object
    dump (`CommandResult(backend=<...SshBackend object at 0x...>, ...)`).
    """
    result = exc.args[0] if exc.args else None
    rc = getattr(result, "rc", None)
    text = str(getattr(result, "stderr", "") or "") if rc is not None else str(exc)
    lines = text.strip().splitlines()
    return lines[-1] if lines else f"ssh failed (exit {rc})" if rc is not None else "ssh failed"
