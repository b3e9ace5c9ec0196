"""Repairing a journal file whose last record was cut short, before anything appends to it; refusing one damaged
before its end.

Optuna writes each record of ``optuna.journal`` as one JSON line, whole, under its lock. A process killed while
writing can leave a partial last line (no trailing newline, or one that does not decode). Optuna's reader skips
it, so the study still reads; but the next record appended joins it, and from then on every read fails. Every
command that writes the storage therefore calls ``repair`` first: the original file is kept beside it, and the
journal is cut back to its last complete record, which loses nothing Optuna could read.

A line that does not decode before the last one (a disk error, an edit, bytes of another file) is not a cut write:
Optuna's reader stops there with a traceback, and what follows it may be trials worth keeping. ``check_records``
finds it first and names it, with the repair, changing nothing: which records to give up is the user's choice. (The
reader stops at a last line of bytes that are not UTF-8 too, which ``repair`` removes before a write.)
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import time
from pathlib import Path

from optuna.storages.journal import JournalFileSymlinkLock

from nas.errors import InputError

logger = logging.getLogger(__name__)

CHUNK = 1 << 16  # bytes read at a time when looking backwards for the last line break


def _line_start(handle, end: int) -> int:  # noqa: ANN001 - a binary file
    """The offset just after the last line break before ``end`` (0 when there is none)."""
    position = end
    while position > 0:
        start = max(0, position - CHUNK)
        handle.seek(start)
        index = handle.read(position - start).rfind(b"\n")
        if index >= 0:
            return start + index + 1
        position = start
    return 0


def intact_length(path: Path) -> int:
    """The length of ``path`` up to the end of its last complete record (its size when it ends in one)."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            return _line_start(handle, size)
        start = _line_start(handle, size - 1)
        handle.seek(start)
        try:
            json.loads(handle.read(size - start))
        except ValueError:  # not UTF-8, or not JSON: a record cut short, then a line break
            return start
        return size


def _record_problem(line: bytes, last: bool) -> str | None:
    """Why one line of a journal stops Optuna's reader (None: it does not). On the ``last`` line, JSON cut short is
    a write cut short, which the reader skips (and ``repair`` removes); bytes that are not UTF-8 (Optuna writes
    ASCII) and JSON that is not a record stop it there too."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "bytes that are not UTF-8"
    except ValueError:
        return None if last else ("not JSON" if line.strip() else "an empty line")
    return None if isinstance(record, dict) and "op_code" in record else "JSON, but not an Optuna record"


def damaged_line(path: Path, last_line: bool = True) -> tuple[int, str] | None:
    """The first line of ``path`` that stops Optuna's reader, as (line number from 1, why), or None; the last line
    only with ``last_line`` (a writer leaves it to ``repair``)."""
    with path.open("rb") as handle:
        previous: tuple[int, bytes] | None = None
        for number, line in enumerate(handle, start=1):
            if previous is not None and (problem := _record_problem(previous[1], last=False)) is not None:
                return previous[0], problem
            previous = number, line
    if last_line and previous is not None and (problem := _record_problem(previous[1], last=True)) is not None:
        return previous[0], problem
    return None


def check_records(path: Path, last_line: bool = True) -> None:
    """Refuses a journal with a line that stops Optuna's reader, naming the line and the repair; changes nothing.

    Args:
        path: The journal (nothing to check when it does not exist).
        last_line: Also check the last line; a command that writes the journal leaves it to ``repair``.

    Raises:
        InputError: a line is not a record Optuna reads (``damaged_line``).
    """
    if not path.is_file():
        return
    damage = damaged_line(path, last_line)
    if damage is None:
        return
    number, problem = damage
    file, backup = shlex.quote(str(path)), shlex.quote(f"{path}.bak")
    raise InputError(
        f"{path}: line {number} is not a journal record ({problem}), so Optuna cannot read the study past it; "
        f"nothing was changed. Keep a backup (cp {file} {backup}), then delete that line if it is a stray one "
        f"(sed -i '{number}d' {file}), or truncate the journal from that line, giving up the records after it "
        f"(head -n {number - 1} {backup} > {file}), and run the command again"
    )


def repair(path: Path) -> Path | None:
    """Cuts a journal that ends in a partial record back to its last complete one, keeping the original.

    Runs under Optuna's own journal lock, so a writer appending at the same time (a running search) is never
    mistaken for damage.

    Returns:
        The kept copy of the damaged original (``optuna.journal.damaged-<time>``), or None when it was whole.
    """
    if not path.is_file():
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        length = intact_length(path)
        size = path.stat().st_size
        if length == size:
            return None
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        shutil.copy2(path, kept)
        with path.open("r+b") as handle:
            handle.truncate(length)
            os.fsync(handle.fileno())
    finally:
        lock.release()
    logger.warning(
        "%s ended in a record cut short (%d bytes, left by a process stopped while writing); removed it (nothing "
        "Optuna could read is lost) and kept the original as %s",
        path,
        size - length,
        kept,
    )
    return kept
