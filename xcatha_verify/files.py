"""Writing results to disk: atomically (temporary file in the same directory, mode, rename) and into
run directories named by time. Every report, journal and history file goes through here."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from xcatha_verify.errors import UsageError


def write_atomic(path: str | os.PathLike[str], text: str, mode: int = 0o644, *, durable: bool = False) -> Path:
    """`text` to `path`: readers see the old file or the new one, never a part. `durable` also fsyncs
    the file and its directory, for records that must survive a crash (the run journal)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    return target


def new_run_dir(root: str | os.PathLike[str], suffix: str, when: datetime | None = None) -> Path:
    """A new directory `<YYYYmmddTHHMMSS>-<suffix>` under `root` (`-2`, `-3`... when that second is taken)."""
    base = f"{(when or datetime.now()):%Y%m%dT%H%M%S}-{suffix}"
    directory = Path(root)
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = directory / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise UsageError(f"{directory}: no free run directory for {base}")
