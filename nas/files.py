"""Writing files that readers can trust: whole or not at all, and never through a symbolic link.

Every file the harness writes goes through here, whoever gave its path (a study folder, an analysis's ``--out``,
``nas export``'s programs, ``nas train --save`` and its resumable state): it is written beside its path and moved into
place, so a reader (and a run resumed after kill -9) never sees a partial file, and a symbolic link in the path's
place is replaced, its target kept, never written through. ``check_writable`` says, before any work, whether a path
can take a file: a command refuses a path it could not write before it trains or exports, not after.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nas import paths
from nas.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_DPI = 120


class LinkRefused(InputError):
    """A path the harness would write through is a symbolic link."""


def _temporary(path: Path) -> Path:
    """Where a file for ``path`` is written before it is moved or linked into place (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


class WriteFailed(InputError):
    """A file could not be written (a full disk, a folder made read-only since it was checked)."""


def replace_with(path: Path, write: Callable[[Path], object]) -> None:
    """Lets ``write`` make the file beside ``path``, then moves it into ``path``'s place in one step (a symbolic
    link there is replaced, its target kept).

    Raises:
        WriteFailed: the file could not be written; what was at ``path`` is left as it was.
    """
    temporary = _temporary(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise WriteFailed(f"cannot write {path} ({error.strerror or error}); free space or give a writable path, "
                          "and run the command again") from None  # fmt: skip
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_writable(path: str | Path, what: str, example: str) -> Path:
    """Checks, before any work, that a file can be written at ``path`` as ``replace_with`` writes it: its folder
    exists and takes a new file (one is made there and removed), and ``path`` is a regular file, a symbolic link
    (replaced, its target kept) or nothing yet.

    Args:
        path: As the user gave it.
        what: The option or file it is, first in the message ("--save", "--out DIR:").
        example: A path that would do, for the message.

    Raises:
        PathError: ``path`` is empty, a folder, a device, a pipe or a socket, or its folder is missing, not a folder
            or not writable.
    """
    path = paths.not_empty(path, what, example)
    if not path.is_symlink():
        if path.is_dir():
            raise paths.PathError(f"{what} {path} is a folder; give a file path inside it, e.g. {path / example}")
        if os.path.lexists(path) and not path.is_file():
            raise paths.PathError(f"{what} {path} {paths.kind(path)}; the harness writes regular files: give a file "
                                  f"path, e.g. {example}")  # fmt: skip
    folder = path.parent
    problem = paths.kind(folder) or (None if folder.is_dir() else paths.FILE)
    if problem is not None:
        fix = "create it first" if problem == paths.MISSING else "give a path in a folder"
        raise paths.PathError(f"{what} {path}: folder {folder} {problem}; {fix}")
    probe = folder / f".{path.name}.{os.getpid()}.probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        probe.unlink()
    except OSError as error:
        raise paths.PathError(f"{what} {path}: cannot write in folder {folder} ({error.strerror or error}); give a "
                              "path in a writable folder") from None  # fmt: skip
    return path


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` so that readers (and a resumed run after kill -9) never see a partial file; a symbolic link
    in ``path``'s place is replaced, never written through."""
    replace_with(path, lambda temporary: temporary.write_text(text))


def save_figure(figure: Figure, path: Path) -> None:
    """Saves a matplotlib ``figure`` as a PNG at ``path`` as ``write_atomically`` writes text, and closes it."""
    import matplotlib.pyplot as plt

    replace_with(path, lambda temporary: figure.savefig(temporary, dpi=FIGURE_DPI, format="png"))
    plt.close(figure)


def create_exclusively(path: Path, text: str) -> bool:
    """Creates ``path`` holding ``text`` unless it exists (then False); readers never see it partly written."""
    temporary = _temporary(path)
    temporary.write_text(text)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def refuse_links(*paths: Path) -> None:
    """Raises:
    LinkRefused: one of ``paths`` is a symbolic link, which a write would follow out of its folder."""
    for path in paths:
        if path.is_symlink():
            raise LinkRefused(
                f"{path} is a symbolic link; the harness never writes through one (it could overwrite a file outside "
                "the study): remove the link, or move the study folder aside"
            )


def open_appending(path: Path, read: bool = False) -> TextIO:
    """``path`` opened to append text (and to read, with ``read``), created if missing; a symbolic link in its
    place is refused (``refuse_links``), also one made between the check and the open (``O_NOFOLLOW``)."""
    refuse_links(path)
    flags = (os.O_RDWR if read else os.O_WRONLY) | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, 0o644), "a+" if read else "a", newline="")
