"""Repairing a journal file whose last record was cut short, before anything appends to it.

Optuna writes each record of ``optuna.journal`` as one JSON line, whole, under its lock. A process killed while
writing can leave a partial last line (no trailing newline, or one that does not decode). Optuna's reader skips
it, so the study still reads; but the next record appended joins it, and from then on every read fails. Every
command that writes the storage therefore calls ``repair`` first: the original file is kept beside it, and the
journal is cut back to its last complete record, which loses nothing Optuna could read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from optuna.storages.journal import JournalFileSymlinkLock

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
