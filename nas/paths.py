"""Every path a user gives, read the one way: what it is, said in one message when it is not what is needed.

A path typed on the command line or in a space file may be empty, missing, a folder where a file is needed (or the
reverse), a device (``/dev/zero``, ``/dev/urandom``), a pipe or a socket, or a symbolic link that leads back to
itself. Each is found here from the file system's own description of the path (``os.stat``: nothing is read from a
file, so a device or a huge file costs nothing) and refused with a ``PathError`` that names the path, what it is and
what was expected. Every stage may import this module (it imports only ``nas.errors``); ``nas.files`` holds the
other half, how the harness writes.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from nas.errors import InputError


class PathError(InputError):
    """A path the user gave is not what the command needs: empty, missing, of the wrong kind or a link loop."""


# What a path is, as the messages say it.
MISSING = "does not exist"
LOOP = "is a symbolic link loop (a link that leads, through links, back to itself)"
FOLDER = "is a directory, not a file"
FILE = "is a file, not a folder"


def kind(path: str | Path) -> str | None:
    """What ``path`` is when it is not a regular file or a folder, as a message says it after the path; None for a
    regular file or a folder (see ``is_file_or_folder``), also through links. Reads nothing from the file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return _stat_failure(Path(path), error)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return f"is not a regular file ({name})"
    return "is not a regular file"


def _stat_failure(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return LOOP
    if error.errno == errno.EACCES:
        return "cannot be read (permission denied)"
    if error.errno == errno.ENAMETOOLONG:
        return "is too long a name for the file system"
    if path.is_symlink():
        return f"is a symbolic link to {os.readlink(path)}, which {MISSING}"
    return MISSING


def not_empty(text: str | Path, what: str, example: str) -> Path:
    """``text`` as a path (``~`` not expanded).

    Raises:
        PathError: it is empty (or only spaces), which would name the working folder.
    """
    if not str(text).strip():
        raise PathError(f"{what} is empty; give a path, e.g. {example}")
    return Path(text)


def resolved(path: str | Path, what: str) -> Path:
    """``path`` made absolute with every symbolic link followed (``~`` expanded), as ``Path.resolve`` does.

    Raises:
        PathError: a link on the way leads back to itself (``Path.resolve`` raises ``RuntimeError`` there).
    """
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
        raise PathError(f"{what} {path} {LOOP}; remove the link or point it at a real path") from None
    except OSError as error:  # Python 3.13 raises OSError(ELOOP) with strict resolution only; kept for others
        raise PathError(f"{what} {path} {_stat_failure(Path(path), error)}") from None


def existing_file(path: str | Path, what: str, fix: str) -> Path:
    """``path``, checked to be a regular file (through links) before anything reads it.

    Args:
        path: As the user gave it.
        what: What it is for, first in the message ("checkpoint", "proxy.init: weights file").
        fix: What to do instead, last in the message.

    Raises:
        PathError: it is empty, missing, a folder, a device, a pipe, a socket or a link loop.
    """
    return _existing(path, what, fix, folder=False)


def existing_folder(path: str | Path, what: str, fix: str) -> Path:
    """``path``, checked to be a folder (through links), made absolute.

    Raises:
        PathError: it is empty, missing, a file, a device, a pipe, a socket or a link loop.
    """
    return resolved(_existing(path, what, fix, folder=True), what)


def _existing(path: str | Path, what: str, fix: str, folder: bool) -> Path:
    """``path`` expanded, checked to exist as a folder (``folder``) or a regular file, through links."""
    path = not_empty(path, what, fix).expanduser()
    problem = kind(path) or (None if os.path.isdir(path) == folder else FILE if folder else FOLDER)
    if problem is not None:
        raise PathError(f"{what} {path} {problem}; {fix}")
    return path


def file_size(path: str | Path) -> int:
    """The size of the regular file ``path`` in bytes, from the file system (nothing is read)."""
    return os.stat(path).st_size
