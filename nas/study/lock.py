"""One search at a time per study folder: ``search.lock``, held with ``flock`` for the search's whole life.

Two searches on one folder would each take the other's live evaluation claims for stale ones (claims name their
search run) and train the same networks twice. The lock file holds the host and process id of the search that
holds it, so a second search can say which one is running. The kernel releases a ``flock`` when its process
dies, however it dies, so a lock left by a killed search is simply taken over; there is nothing to clean up.
Reports and the dashboard never take it: they may run beside a search.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from nas.files import open_appending
from nas.study.folder import StudyError, StudyFolder

logger = logging.getLogger(__name__)


class StudyBusy(StudyError):
    """Another live process is searching the study folder."""


def _holder_text(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"process {holder['pid']} on host {holder['host']} (started {holder['started']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def hold(folder: StudyFolder) -> Iterator[None]:
    """Holds the study folder's search lock until the block ends (creating the folder if needed).

    Raises:
        StudyBusy: a live process holds the lock; the message names its host and process id.
    """
    folder.root.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: the holder's host and pid must survive a second search's failed attempt.
    with open_appending(folder.lock_file, read=True) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise StudyBusy(
                f"{folder.root}: {_holder_text(handle.read())} is searching this study; wait for it to finish or "
                "stop it (Ctrl-C), or pass another --results folder. `nas report` and `nas dashboard` may run "
                "beside it"
            ) from None
        handle.seek(0)
        left = handle.read()
        if left.strip():  # a holder that never reached its cleanup: killed, its flock gone with it
            logger.warning("took over the study lock of %s, no longer running", _holder_text(left))
        _write(handle, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": _now()}))
        try:
            yield
        finally:
            _write(handle, "")


def _write(handle: TextIO, text: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
