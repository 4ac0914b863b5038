"""Hostile inventory files (issue 15): a seeded fuzzer's cases in process and a few through the commands, and
what is not a regular file. Each is refused with one line naming the file (exit status 2 from a command) or
accepted, never a traceback, within 10 s. benchmarks/inventory_fuzz.py runs 300 through the commands.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests import inventory_fuzz as fuzz
from xcatha_verify.cli import verify
from xcatha_verify.errors import InventoryError
from xcatha_verify.inventory import model

SEED = 15
CASES = fuzz.cases(SEED, 50)


@pytest.mark.parametrize("case", CASES, ids=[c.name[:3] for c in CASES])
def test_a_fuzzed_file_is_refused_in_one_line_or_accepted(tmp_path: Path, case: fuzz.Case) -> None:
    path = fuzz.write(case, tmp_path)
    message = fuzz.load_outcome(path)  # any other exception, or no answer within 10 s, fails the test
    if message or case.expected:
        assert fuzz.message_problem(message, path) is None, case.name
        assert case.expected in message, (case.name, message)


def test_the_cases_are_seeded_cover_every_mutation_and_escape_file_names(tmp_path: Path) -> None:
    assert {c.mutation for c in CASES} == {m.__name__ for m in fuzz.MUTATIONS}
    assert [c.data for c in fuzz.cases(SEED, 5)] == [c.data for c in CASES[:5]]  # seeded: the same cases again
    # Every fuzzed file name with a control character is refused (each one's content is broken too) with it escaped.
    named = [c for c in CASES if c.mutation == "hostile_file_name" and not c.file_name.isprintable()]
    assert named
    for case in named:
        message = fuzz.load_outcome(fuzz.write(case, tmp_path))
        assert message and case.file_name not in message and message.isprintable(), (case.name, message)


# One case of each of these mutations goes through both commands, as an operator would meet it.
THROUGH_COMMANDS = ("hostile_file_name", "huge_int", "deep_nesting", "explicit_tag")


@pytest.mark.parametrize("mutation", THROUGH_COMMANDS)
def test_a_fuzzed_file_through_the_commands_is_exit_2_and_one_line(tmp_path: Path, mutation: str) -> None:
    case = next(c for c in CASES if c.mutation == mutation and fuzz.load_outcome(fuzz.write(c, tmp_path)))
    path = fuzz.write(case, tmp_path)
    for argv in fuzz.commands(path):
        assert fuzz.refusal_problem(fuzz.run_command(argv), path) is None, (case.name, argv)


@pytest.mark.parametrize(("special", "says"), [
    ("fifo", "found a FIFO"), ("/dev/zero", "found a character device"), ("directory", "found a directory"),
    ("2 MiB file", f"expected at most {1 << 20} bytes (1 MiB), found {2 << 20} bytes"),
    ("symlink to /dev/zero", "found a character device"),
])  # fmt: skip
def test_what_is_not_a_small_regular_file_is_refused_unread_at_once(tmp_path: Path, special: str, says: str) -> None:
    path = fuzz.special_files(tmp_path)[special]
    started = time.monotonic()
    message = fuzz.load_outcome(path)
    assert time.monotonic() - started < 1
    assert fuzz.message_problem(message, path) is None
    assert says in message, message


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_fifo_or_device_through_the_command_is_refused(tmp_path: Path, special: str) -> None:
    path = fuzz.special_files(tmp_path)[special]
    argv = fuzz.commands(path)[0]
    assert fuzz.refusal_problem(fuzz.run_command(argv), path) is None


def test_list_validates_the_inventory_only_when_one_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    fifo = fuzz.special_files(tmp_path)["fifo"]
    monkeypatch.setattr(model, "DEFAULT_INVENTORY_PATH", str(fifo))  # read, it would be refused
    assert verify._run(verify._parser().parse_args(["--list", "active"])) == 0
    assert "vip.present" in capsys.readouterr().out
    with pytest.raises(InventoryError, match="found a FIFO"):
        verify._run(verify._parser().parse_args(["--inventory", str(fifo), "--list"]))
    good = Path(__file__).parent / "inventories" / "full.yml"
    assert verify._run(verify._parser().parse_args(["--inventory", str(good), "--list"])) == 0
