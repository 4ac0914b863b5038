"""A seeded fuzzer of inventory files (issue 15), shared by tests/test_inventory_fuzz.py (about 50 cases in
process, a few through the commands) and benchmarks/inventory_fuzz.py (300 through the commands).

Each case mutates one of the valid files in tests/inventories/ in one way (truncation, byte flips, deep
nesting, huge integers and strings, aliases, control characters, hostile file names, wrong types,
duplicated keys, BOMs, tabs, bytes that are not UTF-8, explicit tags, padding past the size limit). What
must hold for every case: the loader refuses it with one line naming the file (InventoryError, exit
status 2 from a command) or accepts it, never anything else, within GUARD_S seconds.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from xcatha_verify.errors import InventoryError, escape_controls
from xcatha_verify.inventory import load_inventory
from xcatha_verify.inventory.reader import MAX_BYTES

GUARD_S = 10
BIN = Path(sys.executable).parent
VALID = {path.name: path.read_text() for path in sorted((Path(__file__).parent / "inventories").glob("*.yml"))}
# A command runs in a network namespace of its own when we are root (no route anywhere): a case that were
# accepted by mistake could not reach the inventory's addresses.
ISOLATED = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []

# A scalar after "key: " (block or flow), and a key at the start of a line or after "{" / ", ".
_VALUE = re.compile(r"(?<=: )[^\s,{}\[\]#][^,{}\[\]#\n]*")
_KEY = re.compile(r"(?:(?<=^)|(?<=^- )|(?<=\{)|(?<=, )|(?<=^  ))[A-Za-z_][\w.-]*(?=:)", re.M)
CONTROLS = ["\n", "\r", "\x1b[2J", "\x1b]0;owned\x07", "\x00", "\x7f", "\x85", "\x9b", "\u2028", "\u202e", "\t",
            "\x0c", "\x1c", "\ufeff", "\udcff"]
FILE_NAMES = ["in\nventory.yml", "inv\rentory.yml", "\x1b[31mred.yml", "a\u2028b.yml", "inv\x85.yml",
              "tab\t.yml", "del\x7f.yml", "non-utf8-\udcff.yml", "-looks-like-an-option.yml", "sp ace.yml",
              "\u202eevil.yml"]
WRONG_TYPES = ["[]", "{}", "[1, 2]", "{a: 1}", "true", "null", "~", "1.5", "-1", ".inf", ".nan", "2024-01-01",
               "0o17", "0x1F", "1:30", "'", '"', "&x", "*x", "|", ">", "? x", "- x", "@x", "`x`", "%x", "!x"]
TAGS = ["!!int abc", "!!int 0x", "!!float x", "!!bool maybe", "!!timestamp 2020-99-99", "!!timestamp x",
        "!!python/object/apply:os.system ['true']", "!!binary '!!'", "!!set {a, b}", "!!omap [a]", "!!pairs [a]",
        "!!str [1]", "!custom x", "!!null x", "!!merge x", "!<tag:yaml.org,2002:int> 99"]


@dataclass(frozen=True)
class Case:
    name: str  # printable: what was done to which file
    mutation: str
    data: bytes
    file_name: str = "inventory.yml"

    @property
    def expected(self) -> str:
        """What the refusal must say, for a mutation that is always refused for one reason ('' otherwise)."""
        return EXPECTED.get(self.mutation, "")


class Hang(BaseException):
    """A case that took longer than the guard (BaseException: no `except OSError` under test can swallow it)."""


@contextlib.contextmanager
def guard(seconds: int = GUARD_S) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the mutations: (rng, valid text) -> (what was done, bytes, file name or None) -------------------------

Mutation = Callable[[random.Random, str], tuple[str, bytes, str | None]]


def _replace(rng: random.Random, text: str, pattern: re.Pattern[str], new: str) -> str:
    start, end = _span(rng, text, pattern)
    return text[:start] + new + text[end:]


def _span(rng: random.Random, text: str, pattern: re.Pattern[str]) -> tuple[int, int]:
    """A random match of `pattern` outside comments (a change inside one would test nothing)."""
    spans = [m.span() for m in pattern.finditer(text)
             if "#" not in text[text.rfind("\n", 0, m.start()) + 1 : m.start()]]
    return rng.choice(spans)


def _value(rng: random.Random, text: str, new: str) -> bytes:
    return _replace(rng, text, _VALUE, new).encode("utf-8", "surrogatepass")


def truncate(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    cut = rng.randrange(len(text))
    return f"truncated at {cut}", text[:cut].encode(), None


def flip_bytes(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    data = bytearray(text.encode())
    where = sorted(rng.sample(range(len(data)), rng.randint(1, 8)))
    for i in where:
        data[i] ^= rng.randrange(1, 256)
    return f"bytes flipped at {where}", bytes(data), None


def deep_nesting(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    depth = rng.choice([33, 64, 1000, 5000, 20000])
    if rng.random() < 0.5:
        return f"a value nested {depth} deep in flow style", _value(rng, text, "[" * depth + "]" * depth), None
    depth = min(depth, 1000)  # block style costs an indent per level: 1,500 levels would pass the size limit
    block = "".join(f"{' ' * i}k{i}:\n" for i in range(depth))
    return f"a mapping nested {depth} deep in block style", (text + block).encode(), None


def huge_int(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    digits = rng.choice([21, 25, 640, 4300, 4301, 5000, 100_000])
    number = rng.choice(["", "-", "+"]) + rng.choice(["", "0x", "0", "0b"]) + "1" * digits  # YAML 1.1's forms
    if rng.random() < 0.3:
        number = "_".join(number[i : i + 3] for i in range(0, len(number), 3))
    return f"an integer of {digits} digits", _value(rng, text, number), None


def huge_string(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    size = rng.choice([64, 1000, 100_000, 900_000])
    quote = rng.choice(["", "'", '"'])
    return f"a string of {size} characters", _value(rng, text, quote + "x" * size + quote), None


def aliases(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    kind = rng.choice(["laughs", "undefined", "recursive", "merge", "deep"])
    if kind == "laughs":  # each level ten times the last: 10**levels values if expanded
        levels = rng.randint(3, 9)
        head = "lol0: &lol0 [lol]\n" + "".join(
            f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]\n" for i in range(1, levels + 1))
        return f"billion laughs, {levels} levels", (head + _replace(rng, text, _VALUE, f"*lol{levels}")).encode(), None
    value = {"undefined": "*nowhere", "recursive": "&me [*me]", "merge": "{<<: *nowhere}",
             "deep": "&d " + "[" * 30 + "]" * 30}[kind]
    data = _replace(rng, text, _VALUE, value)
    if kind == "deep":  # the alias sits a few levels down: its expansion passes the depth limit
        data += "extra: [[[[*d]]]]\n"
    return f"alias: {kind}", data.encode(), None


def control_characters(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    char = rng.choice(CONTROLS)
    pattern = rng.choice([_VALUE, _KEY])
    start, end = _span(rng, text, pattern)
    at = rng.randint(start, end)
    if rng.random() < 0.5:  # raw in the file, or as a YAML escape inside a double-quoted value
        data = text[:at] + char + text[at:]
    else:
        escaped = "".join(f"\\u{ord(c):04x}" for c in char)
        data = text[:start] + '"' + text[start:end].replace('"', "") + escaped + '"' + text[end:]
    where = "a key" if pattern is _KEY else "a value"
    return f"{char!r} in {where}", data.encode("utf-8", "surrogatepass"), None


def hostile_file_name(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    name = rng.choice(FILE_NAMES)
    inner = rng.choice([truncate, flip_bytes, wrong_type, duplicate_key])
    what, data, _ = inner(rng, text)
    return f"file named {name!r}, {what}", data, name


def wrong_type(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    new = rng.choice(WRONG_TYPES)
    return f"a value replaced by {new!r}", _value(rng, text, new), None


def duplicate_key(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    lines = text.splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if re.match(r"\s*(- )?[\w.-]+:", line)]
    i = rng.choice(keyed)
    copy = re.sub(r"^(\s*)- ", r"\1  ", lines[i])  # a list item's first key repeated inside the same item
    return f"line {i + 1} repeated", "".join([*lines[: i + 1], copy, *lines[i + 1 :]]).encode(), None


def byte_order_mark(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    kind = rng.choice(["utf-8 at start", "utf-8 mid-file", "utf-16", "utf-32", "utf-8 twice"])
    if kind == "utf-8 at start":
        return "BOM: utf-8 at start", b"\xef\xbb\xbf" + text.encode(), None
    if kind == "utf-8 twice":
        return "BOM: utf-8 twice", b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode(), None
    if kind == "utf-8 mid-file":
        at = rng.randrange(len(text))
        return f"BOM: utf-8 at {at}", (text[:at] + "\ufeff" + text[at:]).encode(), None
    return f"BOM: {kind}", text.encode(kind), None


def tabs(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    lines = text.splitlines(keepends=True)
    indented = [i for i, line in enumerate(lines) if line.startswith(" ")]
    i = rng.choice(indented)
    lines[i] = "\t" + lines[i].lstrip(" ")
    return f"tab indenting line {i + 1}", "".join(lines).encode(), None


def not_utf8(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    data = text.encode()
    at = rng.randrange(len(data))
    junk = bytes([rng.randrange(0x80, 0x100)]) + rng.choice([b"", b"\xfe", b"\xed\xa0\x80", b"\xc0\xaf"])
    return f"bytes {junk!r} at {at}", data[:at] + junk + data[at:], None


def explicit_tag(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    tag = rng.choice(TAGS)
    return f"a value replaced by {tag!r}", _value(rng, text, tag), None


def oversize(rng: random.Random, text: str) -> tuple[str, bytes, str | None]:
    pad = MAX_BYTES - len(text.encode()) + rng.choice([1, 2, 4096, 1 << 20])
    return f"padded past {MAX_BYTES} bytes with a comment", (text + "#" + "x" * pad + "\n").encode(), None


# The mutations always refused, and for which reason (the others may be refused for any, or even be valid).
EXPECTED = {"deep_nesting": "levels of nesting", "huge_int": "digits, found one of", "duplicate_key": "duplicate key",
            "oversize": "bytes (1 MiB)"}
MUTATIONS: list[Mutation] = [truncate, flip_bytes, deep_nesting, huge_int, huge_string, aliases, control_characters,
                             hostile_file_name, wrong_type, duplicate_key, byte_order_mark, tabs, not_utf8,
                             explicit_tag, oversize]


def cases(seed: int, count: int) -> list[Case]:
    """`count` cases from `seed`, the mutations taken in turn so that a few dozen cases cover every one."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        base = rng.choice(sorted(VALID))
        mutation = MUTATIONS[i % len(MUTATIONS)]
        what, data, name = mutation(rng, VALID[base])
        made.append(Case(f"{i:03d} {base}: {what}"[:160], mutation.__name__, data, name or "inventory.yml"))
    return made


def write(case: Case, directory: Path) -> Path:
    path = directory / case.file_name
    path.write_bytes(case.data)
    return path


def special_files(directory: Path) -> dict[str, Path]:
    """What is not a regular file, or too big: each must be refused at once (a FIFO would block a plain
    open, /dev/zero never ends)."""
    fifo, big, link = directory / "fifo.yml", directory / "big.yml", directory / "zero-link.yml"
    os.mkfifo(fifo)
    with big.open("wb") as out:
        out.truncate(2 << 20)  # 2 MiB, sparse
    link.symlink_to("/dev/zero")
    return {"fifo": fifo, "/dev/zero": Path("/dev/zero"), "directory": directory, "2 MiB file": big,
            "symlink to /dev/zero": link}


# --- judging -------------------------------------------------------------------------------------------------


def load_outcome(path: Path) -> str:
    """'' when the file is accepted, else the refusal's message; any other exception, or Hang, propagates."""
    with guard():
        try:
            load_inventory(path)
        except InventoryError as exc:
            return str(exc)
    return ""


def message_problem(message: str, path: Path) -> str | None:
    """Why a refusal's text is not one escaped line naming the file, or None when it is."""
    if len(message.splitlines()) != 1 or not message.isprintable():
        return f"not one printable line: {message!r}"
    if escape_controls(str(path)) not in message:
        return f"the file is not named: {message!r}"
    return None


def commands(path: Path) -> list[list[str]]:
    return [["xcatha-verify", "--inventory", str(path), "--list"],
            ["xcatha-run", "activate", "--inventory", str(path), "--dry-run", "--node", "xcatmn1"]]


def run_command(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """One command, in its own network namespace when root, stopped after GUARD_S (TimeoutExpired)."""
    return subprocess.run([*ISOLATED, str(BIN / argv[0]), *argv[1:]], capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=GUARD_S, check=False, cwd=tempfile.mkdtemp(prefix="xcatha-fuzz-"))


def refusal_problem(proc: subprocess.CompletedProcess[bytes], path: Path) -> str | None:
    """Why a command's answer is not a refusal (exit 2, nothing on stdout, one line on stderr naming the file and
    no traceback), or None when it is."""
    try:
        err = proc.stderr.decode()
    except UnicodeDecodeError:
        return f"stderr is not UTF-8: {proc.stderr[:300]!r}"
    if "Traceback" in err:
        return f"a traceback: {err[-300:]!r}"
    if proc.returncode != 2 or proc.stdout:
        return f"exit status {proc.returncode}, stdout {proc.stdout[:100]!r}, stderr {err[:200]!r}"
    if not err.endswith("\n"):
        return f"stderr does not end its line: {err!r}"
    return message_problem(err[:-1], path)
