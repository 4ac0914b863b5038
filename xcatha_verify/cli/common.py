"""What every command shares: timestamped logging, exceptions and usage errors as one line and an exit status,
and --version."""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from xcatha_verify import __version__
from xcatha_verify.errors import XcathaError, escape_controls

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
        print(f"{prog}: error: {escape_controls(str(exc))}", file=sys.stderr)  # one line, whatever it names
        status = exc.exit_status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line naming the real problem, a did-you-mean for a mistyped
    option or command, and exit status 2 (argparse's own error prints the whole usage first).

    A mistyped option is looked for before argparse parses: otherwise its value is taken for the
    command (`--inventroy x failover`: "invalid choice: 'x'"). `free_after` names commands whose
    remaining words are not ours (`xcatha-lab shell NODE ls --all`).
    """

    def __init__(self, *args: Any, free_after: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.free_after = free_after

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        owners = _option_owners(self)
        for word in argv:
            if word == "--" or word in self.free_after:
                break
            name = word.split("=", 1)[0]
            if name.startswith("--") and len([o for o in owners if o.startswith(name)]) != 1 and name not in owners:
                self.error(f"unrecognized arguments: {name}")
        return super().parse_args(argv, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_with_suggestion(self, message)} (see {self.prog} --help)\n")


def _option_owners(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Every option string of the parser and its commands: the commands that take it ([""]: the parser)."""
    owners: dict[str, list[str]] = {s: [""] for action in parser._actions for s in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                for option in (s for a in command._actions for s in a.option_strings):
                    owners.setdefault(option, []).append(name)
    return owners


def _with_suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice is not None:
        return _suggest(message, choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
    unknown = re.match(r"unrecognized arguments: (\S+)", message)
    if unknown is None:
        return message
    word = unknown.group(1).split("=", 1)[0]
    if not word.startswith("-"):
        return message
    owners = _option_owners(parser)
    if word in owners:
        return f"{word} does not go with this command; it goes with: {', '.join(n for n in owners[word] if n)}"
    return _suggest(f"unknown option {word}", word, sorted(owners))


def _suggest(message: str, word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"{message}; did you mean {close[0]}?" if close else message


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
